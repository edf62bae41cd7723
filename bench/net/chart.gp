# bench/net/chart.gp: the throughput chart of docs/performance.md, drawn by
# bench/net/report.py:
#   gnuplot -e "datafile='x.dat'; outfile='x.png'; ncfg=4" bench/net/chart.gp
# datafile: a header line, then one line per test: its label, and for each
# configuration the median, minimum and maximum in Gbit/s.
set terminal pngcairo size 1000,520 font "DejaVu Sans,10" noenhanced
set output outfile
set title "Throughput per configuration (median of the repetitions, bars: min–max)"
set ylabel "Gbit/s (log scale)"
set logscale y
set yrange [*:*]
set grid ytics mytics lc rgb "#dddddd"
set key outside bottom center horizontal
set style data histogram
set key autotitle columnheader
set style histogram errorbars gap 1.5 lw 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics nomirror
set ytics nomirror
set format y "%g"
# each cluster is one unit wide; its ncfg bars are 1/(ncfg+gap) wide each
bar_x(row, i) = row + (i - (ncfg - 1) / 2.0) / (ncfg + 1.5)
plot for [i=0:ncfg-1] datafile using (column(2+3*i)):(column(3+3*i)):(column(4+3*i)):xtic(1) \
	title columnheader(2+3*i), \
	for [i=0:ncfg-1] datafile using (bar_x($0, i)):(column(4+3*i)):(sprintf("%.2g", column(2+3*i))) \
	with labels offset 0,0.7 font ",8" notitle
