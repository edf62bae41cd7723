#!/usr/bin/python3
# tests/net/api_pages.py: drives the pages of `weft api` in Debian's headless
# Chromium (selenium + chromium-driver), for tests/net/93-api-pages.sh.
#   api_pages.py enrol BASE_URL TOKEN NAME OUT   enrols through "/#TOKEN":
#       OUT/config.conf (the config the page shows), OUT/qr.png (its QR
#       canvas), OUT/download.conf (what the download button saves),
#       OUT/enrol.png (a screenshot)
#   api_pages.py enrol-fails BASE_URL TOKEN NAME OUT   the same, and expects
#       the page to show why it failed (printed as "status: ...") and no config
#   api_pages.py admin BASE_URL TOKEN KEY OUT    signs in on /admin, waits for
#       KEY's row and its chart, makes an enrolment link for 2 peers named
#       page-link (OUT/link.txt), clicks Disable, waits for "disabled":
#       OUT/admin.png and OUT/admin-disabled.png (screenshots before and
#       after), OUT/admin-chart.txt (pixels the row's chart drew)
#   api_pages.py admin-manage BASE_URL TOKEN KEY OUT   sets KEY's expiry to
#       2030-01-02 03:04, revokes the token page-link, enables KEY again
#   api_pages.py admin-remove BASE_URL TOKEN KEY OUT   removes KEY (two clicks,
#       a poll between them)
# Prints "ok: WHAT" or "error: WHAT" lines and exits non-zero on an error.
# Every console message of the page (a CSP violation, a script error) is an
# error, and so are a cookie and anything loaded from another origin.
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
    # an API error answer is logged as a failed load (the pages handle
    # those), and a page on plain HTTP ignores the server's COOP header;
    # anything else (a CSP violation, a script error) is a bug
    expected = ('Failed to load resource', 'Cross-Origin-Opener-Policy header has been ignored')
    return [m['message'] for m in d.get_log('browser')
            if m['level'] in ('SEVERE', 'WARNING')
            and not any(e in m['message'] for e in expected)]


def finish(d, errors):
    # everything the page loaded or fetched came from its own server
    origin = d.execute_script('return location.origin')
    loaded = d.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)")
    errors += ['loaded from elsewhere: ' + u for u in loaded
               if not u.startswith(origin + '/')]
    print('ok: %d loads and fetches, from %s' % (len(loaded), origin))
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


def enrol_fails(base, token, name, out):
    d = browser(out)
    errors = []
    d.get(base + '/#' + token)
    w = WebDriverWait(d, WAIT)
    w.until(EC.presence_of_element_located((By.ID, 'enrol-form')))
    d.find_element(By.ID, 'name').send_keys(name)
    d.find_element(By.ID, 'enrol').click()
    try:
        w.until(lambda d: 'failed' in d.find_element(By.ID, 'status').text)
        print('status: ' + d.find_element(By.ID, 'status').text)
    except Exception:
        errors.append('no failure shown; status: ' + d.find_element(By.ID, 'status').text)
    if d.find_element(By.ID, 'result').is_displayed():
        errors.append('a config is shown')
    finish(d, errors)


def sign_in(base, token, key, out):
    d = browser(out)
    w = WebDriverWait(d, WAIT)
    d.get(base + '/admin')
    w.until(EC.visibility_of_element_located((By.ID, 'admin-token'))).send_keys(token)
    d.find_element(By.CSS_SELECTOR, '#login-form button').click()
    row = '#peers tr[data-key="%s"]' % key
    w.until(EC.presence_of_element_located((By.CSS_SELECTOR, row)))
    return d, w, row


def admin(base, token, key, out):
    d, w, row = sign_in(base, token, key, out)
    errors = []
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
    d.set_window_size(1100, 1000)   # tall enough for the tokens
    time.sleep(0.5)
    d.save_screenshot(os.path.join(out, 'admin.png'))
    # a new enrolment link for two peers, named page-link
    name = d.find_element(By.ID, 'token-name')
    name.send_keys('page-link')
    peers = d.find_element(By.ID, 'token-peers')
    peers.clear()
    peers.send_keys('2')
    d.find_element(By.CSS_SELECTOR, '#token-form button').click()
    try:
        w.until(EC.visibility_of_element_located((By.ID, 'new-link-a')))
        w.until(lambda d: 'page-link' in d.find_element(By.ID, 'tokens').text)
        with open(os.path.join(out, 'link.txt'), 'w') as f:
            f.write(d.find_element(By.ID, 'new-link-a').text + '\n')
        print('ok: new link shown')
    except Exception:
        errors.append('no new link; status: ' + d.find_element(By.ID, 'tokens-status').text)
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


def admin_manage(base, token, key, out):
    """sets the expiry to 2030-01-02 03:04 (the browser's time zone: UTC
    here), revokes the token page-link and enables the peer again"""
    d, w, row = sign_in(base, token, key, out)
    errors = []
    d.find_element(By.CSS_SELECTOR, row + ' button[data-action="expiry"]').click()
    d.execute_script("document.getElementById('expiry-at').value = '2030-01-02T03:04'")
    d.find_element(By.CSS_SELECTOR, '#expiry-form button[type="submit"]').click()
    try:
        w.until(lambda d: '2030' in d.find_element(By.CSS_SELECTOR, row + ' td:nth-child(8)').text)
        print('ok: expiry shown')
    except Exception:
        errors.append('no expiry shown; status: ' + d.find_element(By.ID, 'peers-status').text)
    # revoke the token named page-link
    tok = "//table[@id='tokens']//tr[td[1][text()='page-link']]"
    d.find_element(By.XPATH, tok + "//button[@data-action='revoke']").click()
    try:
        w.until(EC.invisibility_of_element_located((By.XPATH, tok)))
        print('ok: token revoked')
    except Exception:
        errors.append('the token is still listed; status: ' + d.find_element(By.ID, 'tokens-status').text)
    d.find_element(By.CSS_SELECTOR, row + ' button[data-action="enable"]').click()
    try:
        w.until(EC.presence_of_element_located((By.CSS_SELECTOR, row + ' td[data-state="enabled"]')))
        print('ok: the page shows the peer enabled')
    except Exception:
        errors.append('the peer is not shown enabled; status: ' +
                      d.find_element(By.ID, 'peers-status').text)
    finish(d, errors)


def admin_remove(base, token, key, out):
    """removes the peer: Remove, then Really remove?"""
    d, w, row = sign_in(base, token, key, out)
    errors = []
    btn = row + ' button[data-action="remove"]'
    d.find_element(By.CSS_SELECTOR, btn).click()
    # the page polls meanwhile: the armed button must survive it
    time.sleep(2.5)
    if d.find_element(By.CSS_SELECTOR, btn).text != 'Really remove?':
        errors.append('the remove button did not ask again')
    d.find_element(By.CSS_SELECTOR, btn).click()
    try:
        w.until(EC.invisibility_of_element_located((By.CSS_SELECTOR, row)))
        print('ok: the row is gone')
    except Exception:
        errors.append('the row is still there; status: ' + d.find_element(By.ID, 'peers-status').text)
    finish(d, errors)


if __name__ == '__main__':
    modes = {'enrol': enrol, 'enrol-fails': enrol_fails, 'admin': admin,
             'admin-manage': admin_manage, 'admin-remove': admin_remove}
    if len(sys.argv) != 6 or sys.argv[1] not in modes:
        sys.exit('usage: api_pages.py %s BASE_URL TOKEN NAME|KEY OUT' % '|'.join(modes))
    modes[sys.argv[1]](*sys.argv[2:])
