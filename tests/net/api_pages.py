#!/usr/bin/python3
# tests/net/api_pages.py: drives the pages of `weft api` in Debian's headless
# Chromium (selenium + chromium-driver), for tests/net/93-api-pages.sh.
#   api_pages.py enrol BASE_URL TOKEN NAME OUT   enrols through "/#TOKEN":
#       OUT/config.conf (the config the page shows), OUT/qr.png (its QR
#       canvas), OUT/download.conf (what the download button saves),
#       OUT/enrol.png (a screenshot)
#   api_pages.py admin BASE_URL TOKEN KEY OUT    signs in on /admin, waits for
#       KEY's row and its chart, makes an enrolment link of a token, clicks
#       Disable, waits for "disabled":
#       OUT/admin.png and OUT/admin-disabled.png (screenshots before and
#       after), OUT/admin-chart.txt (pixels the row's chart drew)
# Prints "ok: WHAT" or "error: WHAT" lines and exits non-zero on an error.
# Every console message of the page (a CSP violation, a script error) is an
# error, and so is a cookie.
import base64
import os
import shutil
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 30


PROFILE = tempfile.mkdtemp(prefix='chromium.')


def browser(out):
    opts = webdriver.ChromeOptions()
    opts.binary_location = '/usr/bin/chromium'
    for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
              '--window-size=1100,760', '--hide-scrollbars', '--no-first-run',
              '--disable-background-networking', '--disable-component-update',
              '--disable-sync', '--disable-default-apps', '--disable-domain-reliability',
              '--no-pings', '--disable-features=OptimizationHints,MediaRouter',
              '--user-data-dir=' + PROFILE):
        opts.add_argument(a)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    opts.add_experimental_option('prefs', {
        'download.default_directory': out, 'download.prompt_for_download': False})
    d = webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=opts)
    d.execute_cdp_cmd('Page.setDownloadBehavior', {'behavior': 'allow', 'downloadPath': out})
    return d


def console_errors(d):
    # an API error answer is logged as a failed load: the pages handle
    # those; anything else (a CSP violation, a script error) is a bug
    return [m['message'] for m in d.get_log('browser')
            if m['level'] in ('SEVERE', 'WARNING')
            and 'Failed to load resource' not in m['message']]


def finish(d, errors):
    errors += ['console: ' + m for m in console_errors(d)]
    if d.get_cookies():
        errors.append('the page set cookies: %r' % d.get_cookies())
    d.quit()
    shutil.rmtree(PROFILE, ignore_errors=True)
    for e in errors:
        print('error: ' + e)
    sys.exit(1 if errors else 0)


def enrol(base, token, name, out):
    d = browser(out)
    errors = []
    d.get(base + '/#' + token)
    w = WebDriverWait(d, WAIT)
    w.until(EC.presence_of_element_located((By.ID, 'enrol-form')))
    if d.execute_script('return location.hash'):
        errors.append('the token stayed in the address bar')
    if d.find_element(By.ID, 'link').get_attribute('value') != token:
        errors.append('the token from the link was not filled in')
    d.find_element(By.ID, 'name').send_keys(name)
    d.find_element(By.ID, 'enrol').click()
    try:
        w.until(lambda d: d.find_element(By.ID, 'result').is_displayed()
                or 'failed' in d.find_element(By.ID, 'status').text)
    except Exception:
        pass
    if not d.find_element(By.ID, 'result').is_displayed():
        errors.append('no config shown; status: ' + d.find_element(By.ID, 'status').text)
        finish(d, errors)
    config = d.find_element(By.ID, 'config').text
    with open(os.path.join(out, 'config.conf'), 'w') as f:
        f.write(config + '\n')
    png = d.execute_script("return document.getElementById('qr').toDataURL('image/png')")
    with open(os.path.join(out, 'qr.png'), 'wb') as f:
        f.write(base64.b64decode(png.split(',', 1)[1]))
    print('ok: config and QR saved')
    fname = d.find_element(By.ID, 'filename').text
    d.find_element(By.ID, 'download').click()
    path = os.path.join(out, fname)
    for _ in range(100):
        if os.path.exists(path):
            break
        time.sleep(0.1)
    if os.path.exists(path):
        os.rename(path, os.path.join(out, 'download.conf'))
        print('ok: downloaded ' + fname)
    else:
        errors.append('the download button saved no ' + fname)
    d.save_screenshot(os.path.join(out, 'enrol.png'))
    finish(d, errors)


def admin(base, token, key, out):
    d = browser(out)
    errors = []
    w = WebDriverWait(d, WAIT)
    d.get(base + '/admin')
    w.until(EC.visibility_of_element_located((By.ID, 'admin-token'))).send_keys(token)
    d.find_element(By.CSS_SELECTOR, '#login-form button').click()
    row = '#peers tr[data-key="%s"]' % key
    w.until(EC.presence_of_element_located((By.CSS_SELECTOR, row)))
    if d.execute_script("return sessionStorage.getItem('weft-admin-token')") != token:
        errors.append('the admin token is not in sessionStorage')
    # a few polls make rates, so the row's chart has a line
    time.sleep(10)
    drawn = d.execute_script("""
        const c = document.querySelector(arguments[0] + ' canvas.chart');
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < px.length; i += 4)
            if (!(px[i] === 0xf6 && px[i + 1] === 0xf7 && px[i + 2] === 0xf9)) n++;
        return n;""", row)
    with open(os.path.join(out, 'admin-chart.txt'), 'w') as f:
        f.write('%d\n' % drawn)
    d.save_screenshot(os.path.join(out, 'admin.png'))
    d.find_element(By.ID, 'link-token').send_keys('weft_0123')
    d.find_element(By.CSS_SELECTOR, '#link-form button').click()
    link = d.find_element(By.ID, 'new-link-a').text
    if link != base + '/#weft_0123':
        errors.append('the link made of a token is %r' % link)
    d.find_element(By.CSS_SELECTOR, row + ' button[data-action="disable"]').click()
    try:
        w.until(EC.presence_of_element_located(
            (By.CSS_SELECTOR, row + ' td[data-state="disabled"]')))
        print('ok: the page shows the peer disabled')
    except Exception:
        errors.append('the peer is not shown disabled; status: ' +
                      d.find_element(By.ID, 'peers-status').text)
    d.save_screenshot(os.path.join(out, 'admin-disabled.png'))
    finish(d, errors)


if __name__ == '__main__':
    if len(sys.argv) != 6 or sys.argv[1] not in ('enrol', 'admin'):
        sys.exit(__doc__ or 'usage: api_pages.py enrol|admin BASE_URL TOKEN NAME|KEY OUT')
    {'enrol': enrol, 'admin': admin}[sys.argv[1]](*sys.argv[2:])
