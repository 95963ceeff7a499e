#!/usr/bin/env bash
# The main job: the example crawl against the built-in sandbox (emulated
# solving service + demo site on loopback), then what it scraped and what the
# captchas cost.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.venv/bin
work=$(mktemp -d)
# The sandbox's loopback proxy takes these credentials (the password from the environment,
# never the command line); its connections leave from 127.0.0.2, so IP-bound clearances
# are minted for the IP the demo site sees.
export SCRAPY_CAPTCHA_SANDBOX_PROXY_PASSWORD="demo-$RANDOM$RANDOM"
"$BIN/scrapy-captcha" sandbox --service-port 0 --site-port 0 --latency 2 --session-pages 25 \
  --proxy-port 0 --proxy-login demo --ready-file "$work/sandbox.json" >"$work/sandbox.log" 2>&1 &
sandbox=$!
trap 'kill $sandbox 2>/dev/null; wait $sandbox 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/sandbox.json" ] && break; sleep 0.1; done
[ -s "$work/sandbox.json" ] || { cat "$work/sandbox.log"; echo "sandbox did not start" >&2; exit 1; }
read -r service_url site_url proxy_url < <("$BIN/python" -c \
  'import json,sys; d=json.load(open(sys.argv[1])); print(d["service_url"], d["site_url"], d["proxy_url"])' \
  "$work/sandbox.json")
echo "sandbox: solving service $service_url, demo site $site_url, proxy $proxy_url"
mkdir -p .sandbox
report="$PWD/.sandbox/captcha-report.html"
(cd example_project && "$BIN/scrapy" crawl catalog -a start_url="$site_url/" \
  -s CAPTCHA_API_URL="$service_url" -s LOG_LEVEL=WARNING -s CAPTCHA_REPORT="$report" -O "$work/items.jsonl")
"$BIN/python" - "$work/items.jsonl" <<'PY'
import json, sys
items = [json.loads(line) for line in open(sys.argv[1])]
ids = [i["id"] for i in items]
print(f"scraped {len(items)} items ({len(set(ids))} distinct), e.g.:")
for item in sorted(items, key=lambda i: i["id"])[:3]:
    print(f"  #{item['id']:>3} {item['name']:<20} {item['price']:>7.2f}  {item['sku']}")
PY
echo "crawl report (charts, self-contained HTML): $report"
echo
echo "kinds: other captchas over plain HTTP, through the sandbox's proxy (clearance cookies bound to its IP)"
proxy_with_login="http://demo:$SCRAPY_CAPTCHA_SANDBOX_PROXY_PASSWORD@${proxy_url#http://}"
(cd example_project && SANDBOX_PROXY_URL="$proxy_with_login" "$BIN/scrapy" crawl kinds -a start_url="$site_url/" \
  -s CAPTCHA_API_URL="$service_url" -s LOG_LEVEL=ERROR -O "$work/kinds.jsonl")
"$BIN/python" - "$work/kinds.jsonl" <<'PY'
import json, sys
items = [json.loads(line) for line in open(sys.argv[1])]
print(f"passed {sum(1 for i in items if i['result'] == 'passed')} of {len(items)}")
for item in items:
    print(f"  {item['page']:<72} {item['result']}")
PY
echo
echo "browser_catalog: pages only a browser can pass (scrapy-playwright, system Chromium)"
(cd example_project && "$BIN/scrapy" crawl browser_catalog -a start_url="$site_url/" \
  -s CAPTCHA_API_URL="$service_url" -s LOG_LEVEL=WARNING -O "$work/browser.jsonl")
"$BIN/python" - "$work/browser.jsonl" <<'PY'
import json, sys
items = [json.loads(line) for line in open(sys.argv[1])]
print(f"browser pages passed: {sum(1 for i in items if i['result'] in ('verified', 'Clearance granted'))} of {len(items)}")
for item in items:
    print(f"  {item['page']:<36} {item['result']}")
PY
echo
echo "from the shell: test a page and the account (key from CAPTCHA_API_KEY; the sandbox needs none, docs/cli.md)"
echo "\$ scrapy-captcha solve $site_url/challenge/turnstile/1 --provider sandbox --api-url $service_url"
env -u CAPTCHA_API_KEY "$BIN/scrapy-captcha" solve "$site_url/challenge/turnstile/1" --provider sandbox \
  --api-url "$service_url" 2>/dev/null
echo "\$ scrapy-captcha balance --provider sandbox --api-url $service_url"
env -u CAPTCHA_API_KEY "$BIN/scrapy-captcha" balance --provider sandbox --api-url "$service_url"
