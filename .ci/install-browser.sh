#!/usr/bin/env bash
# Headless browser for the dashboard tests: Debian's chromium (+ CJK fonts) and Playwright for Python
# (the driver only: `playwright install` cannot download browsers here; tests launch /usr/bin/chromium).
# Idempotent. Without root or apt, it prints why and the browser tests skip (CI runs as root).
set -u
if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || echo "install-browser: apt-get update failed"
    apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null 2>&1 \
      || echo "install-browser: apt-get install chromium fonts-noto-cjk failed; browser tests will skip"
  else
    echo "install-browser: not root or no apt-get: cannot install chromium; browser tests will skip"
  fi
fi
python -c "import playwright" 2>/dev/null || python -m pip install --quiet "playwright>=1.40" \
  || echo "install-browser: pip install playwright failed; browser tests will skip"
[ -x /usr/bin/chromium ] && /usr/bin/chromium --version 2>/dev/null | head -n1
exit 0
