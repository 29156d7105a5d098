#!/usr/bin/env bash
# Headless Chromium and its WebDriver for annolog's browser tests (tests/browser).
#   scripts/chromium.sh install   install Debian's chromium and chromium-driver if missing
#   scripts/chromium.sh start     the same (scripts/services.sh start calls it with the others)
#   scripts/chromium.sh stop      nothing to stop: each test session starts its own browser
#
# Debian's packages, not a downloaded browser: a test machine may have no internet past
# its package mirror, and Selenium Manager is never allowed to fetch a driver (the tests
# point Selenium at /usr/bin/chromedriver). The browser and the driver come from the same
# source package, so their versions always match.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver

install_browser() {
    if [[ -x $CHROMIUM && -x $CHROMEDRIVER ]]; then
        return 0
    fi
    apt_install chromium chromium-driver
    "$CHROMIUM" --version >&2
}

case ${1:-} in
    install | start) install_browser ;;
    stop) ;;
    *)
        echo "usage: $0 install|start|stop" >&2
        exit 2
        ;;
esac
