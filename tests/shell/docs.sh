#!/bin/bash
# tests/shell/docs.sh: documents that cannot mislead. Every link in README.md,
# CONTRIBUTING.md and docs/*.md leads to a file inside the repository; the
# man pages name every environment variable and file that weft and weftd
# read (found as string literals in src/weft and src/weftd); `--help` of
# every command names installed documents only (man pages), never a path of
# the source tree; the architecture document has its sections.
cd "$(dirname "$0")/../.." || exit 1
WEFT=${WEFT:-build/weft} WEFTD=${WEFTD:-build/weftd}
ok=1
res() { # name, status, [why]
	if [[ $2 == 0 ]]; then echo "PASS: docs/$1"; else echo "FAIL: docs/$1${3:+: $3}"; ok=0; fi
}

# --- links: relative, inside the repository, to a file that exists
for doc in README.md CONTRIBUTING.md docs/*.md; do
	bad=
	dir=$(dirname "$doc")
	while read -r target; do
		target=${target%%#*}
		[[ -z $target ]] && continue
		if [[ $target == *://* || $target == /* || $target == mailto:* ]]; then
			bad+=" $target"
			continue
		fi
		real=$(realpath -m "$dir/$target")
		[[ $real == "$PWD"/* && -e $real ]] || bad+=" $target"
	done < <(grep -oE '\]\([^)]+\)' "$doc" | sed 's/^](//; s/)$//')
	res "links-inside-repository/$doc" "$([[ -z $bad ]]; echo $?)" "leads outside or nowhere:$bad"
done

# --- man pages: every variable and file the programs read
man_text() { sed 's/\\-/-/g; s/\\f[BIRP]//g; s/\\e/\\/g' "$1"; }
check_named() { # program, sources dir, man page
	local prog=$1 src=$2 page=$3 text missing= name
	text=$(man_text "$page")
	for name in $(grep -ohE '"(WG|WEFT)_[A-Z0-9_]+"|"LOG_LEVEL"|"PATH"' "$src"/*.[ch] | tr -d '"' | sort -u); do
		[[ $text == *"$name"* ]] || missing+=" $name"
	done
	res "environment-in-man-page/$prog" "$([[ -z $missing ]]; echo $?)" "$page lacks:$missing"
	missing=
	for name in $(grep -ohE '"/(etc|var|run|sys|dev|usr/share|usr/lib)/[A-Za-z0-9_./-]*"' "$src"/*.[ch] |
		tr -d '"' | grep -vxE '/dev/(null|stdin|stdout|stderr)' | sort -u); do
		[[ $text == *"${name%/}"* ]] || missing+=" $name"
	done
	res "files-in-man-page/$prog" "$([[ -z $missing ]]; echo $?)" "$page lacks:$missing"
}
check_named weft src/weft docs/weft.8
check_named weftd src/weftd docs/weftd.8

# --- --help: installed documents only
if [[ -x $WEFT && -x $WEFTD ]]; then
	helps=$("$WEFT" --help 2>&1; "$WEFTD" --help 2>&1)
	for c in $("$WEFT" --help 2>&1 | sed -nE 's/^  ([a-z][a-z-]*) +[A-Z].*/\1/p'); do
		helps+=$'\n'$("$WEFT" help "$c" 2>&1)
	done
	# a path of the source tree (not the program's own path in "Usage: /x/docs/build/weftd")
	bad=$(grep -nE "(^|[ (\`'\"])(docs|src|tests|bench)/" <<<"$helps")
	# a guide named must be one that make install puts in share/doc/weft
	tmp=$(mktemp -d /tmp/weft-docs.XXXXXX) || exit 1
	trap 'rm -rf "$tmp"' EXIT
	make -s install PREFIX="$tmp/usr" >"$tmp/install.log" 2>&1 || bad+=" (make install failed)"
	for guide in $(grep -oE '[A-Za-z0-9_-]+\.(md|yaml)\b' <<<"$helps" | sort -u); do
		[[ -f $tmp/usr/share/doc/weft/$guide ]] || bad+=" $guide (not installed)"
	done
	res help-names-installed-documents-only "$([[ -z $bad ]]; echo $?)" "$(head -n 3 <<<"$bad" | tr '\n' ' ')"
	n=$(grep -c '^Usage' <<<"$helps")
	(( n >= 10 )); res help-of-every-command $? "only $n usage texts"
else
	echo "SKIP: docs/help-names-installed-documents-only: $WEFT or $WEFTD not built"
fi

# --- the contributor and architecture documents
grep -q '^## Adding a unit test' CONTRIBUTING.md && grep -q '^## Adding a fuzz target' CONTRIBUTING.md
res contributing-says-how-to-add-tests $?
missing=
for section in 'Layers' 'The engine contract' 'Threads' 'Batches' 'The CLI' 'Tests'; do
	grep -qxE "#{2,3} $section" docs/architecture.md || missing+=" '$section'"
done
res architecture-sections "$([[ -z $missing ]]; echo $?)" "missing:$missing"
(( ok ))
