"""The names page in a real browser: Debian's headless Chromium, driven through
chromium-driver over HTTPS to each host. The page works under its own
Content-Security-Policy (its stylesheet applies, nothing is refused), a name typed
into the form is stored and shown as typed, and a bad one is refused with its message.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.web

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def spki_sha256(certificate_pem: str) -> str:
    """The base64 SHA-256 of a certificate's public key, as Chromium pins keys."""
    key = x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture
def browser(site, tmp_path):
    """Chromium with the site's name mapped to the host's address and the site's key
    trusted (the certificate itself is checked by test_tls.py)."""
    served = ssl.get_server_certificate((site.address, 443))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
        f"--host-resolver-rules=MAP {site.name} {site.address}",
        f"--ignore-certificate-errors-spki-list={spki_sha256(served)}",
    ):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver, f"https://{site.name}/"
    finally:
        driver.quit()


def submit(driver, name: str) -> None:
    field = driver.find_element(By.ID, "name")
    field.send_keys(name)
    driver.find_element(By.ID, "submit").click()
    # While the old document goes, chromedriver may answer about its element with an
    # "unhandled inspector error" instead of a stale reference: ask again.
    WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,)).until(
        expected_conditions.staleness_of(field)
    )


def page_problems(driver) -> list[str]:
    """Console messages of blocked content or script errors."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"] or "Uncaught" in entry["message"]
    ]


def test_page_works_under_its_content_security_policy(browser):
    driver, url = browser
    driver.get(url)
    assert driver.title == "Names"
    # style.css applied: the stylesheet is the site's own file, which the policy allows.
    background = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(250, 250, 250)"
    assert driver.execute_script("return location.protocol") == "https:"
    assert page_problems(driver) == []


def test_a_typed_name_is_stored_and_shown_as_typed(browser):
    driver, url = browser
    driver.get(url)
    # ChromeDriver types only characters of the Basic Multilingual Plane.
    name = f'Zoë <b>bold</b> "><img src=x onerror=alert(1)> 山田 שלום ☃ {uuid.uuid4().hex[:6]}'
    submit(driver, name)
    assert driver.current_url == url  # Post/Redirect/Get back to the page
    assert driver.find_element(By.CSS_SELECTOR, ".flash").text
    assert driver.find_elements(By.CSS_SELECTOR, ".names .name")[0].text == name
    assert driver.find_elements(By.CSS_SELECTOR, ".names b") == []  # shown, not rendered
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 (the payload ran no script)
    assert page_problems(driver) == []


def test_a_blank_name_is_refused_with_its_message(browser):
    driver, url = browser
    driver.get(url)
    first = driver.find_elements(By.CSS_SELECTOR, ".names .name")
    before = first[0].text if first else None
    submit(driver, "   ")
    error = driver.find_element(By.ID, "name-error")
    assert error.is_displayed()
    assert error.text
    assert driver.find_element(By.ID, "name").get_attribute("aria-invalid") == "true"
    driver.get(url)
    after = driver.find_elements(By.CSS_SELECTOR, ".names .name")
    assert (after[0].text if after else None) == before
    assert page_problems(driver) == []


def test_a_bidi_override_in_a_name_reorders_only_that_name(browser):
    """A right-to-left override typed in a name stays in its own isolate: the date
    after it is still laid out left to right, to the right of the name."""
    driver, url = browser
    driver.get(url)
    name = f"\u202eevil {uuid.uuid4().hex[:6]}"
    submit(driver, name)
    entry = driver.find_elements(By.CSS_SELECTOR, ".names li")[0]
    shown = entry.find_element(By.CSS_SELECTOR, ".name")
    when = entry.find_element(By.TAG_NAME, "time")
    assert shown.text == name
    assert when.rect["x"] >= shown.rect["x"] + shown.rect["width"] - 1
    assert page_problems(driver) == []
