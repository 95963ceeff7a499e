"""Example project: crawls the sandbox demo catalog through its reCAPTCHA gate.

Against a real site: scrapy crawl catalog -a start_url=https://… \
    -s CAPTCHA_PROVIDER=capsolver   (and CAPTCHA_API_KEY in the environment)
"""

BOT_NAME = "catalog"
SPIDER_MODULES = ["catalog.spiders"]
NEWSPIDER_MODULE = "catalog.spiders"

ADDONS = {"scrapy_captcha.Addon": 500}

# The built-in sandbox (emulated solving service on loopback). It accepts any key.
CAPTCHA_PROVIDER = "sandbox"

EXTENSIONS = {"catalog.report.CrawlReport": 900}

ROBOTSTXT_OBEY = False
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 8
DOWNLOAD_DELAY = 0
LOG_LEVEL = "INFO"
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
FEED_EXPORT_ENCODING = "utf-8"
