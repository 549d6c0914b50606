"""sim play in headless Chromium: a person's clicks take a bank's side to an agreement, then to a
withdrawal, then a platform's side out of its two negotiations; each written report says so.
Run by .ci/browser, which installs what it needs.

    play_in_chromium.py SIM_BINARY
    PLAY_SCREENSHOT=page.png play_in_chromium.py SIM_BINARY
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = Path(__file__).resolve().parents[3]
SCENARIO = "scenarios/messenger-2018.toml"
BANK = "citi-like"
# Where to save a picture of the page at the bank's first offer (for the README), if anywhere.
SCREENSHOT = os.environ.get("PLAY_SCREENSHOT")


def browser():
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1500"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def start(sim, out, scenario, seat):
    proc = subprocess.Popen(
        [sim, "play", scenario, "--as", seat, "--out", str(out), "--idle-timeout", "5m"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("play at "):
        proc.kill()
        sys.exit(f"sim play did not start: {line!r} {proc.stderr.read()}")
    return proc, line.split()[-1]


def visible(driver, element_id):
    return driver.find_element(By.ID, element_id).is_displayed()


def play(sim, driver, case, move, scenario=SCENARIO, seat=BANK, side="bank"):
    """Plays `seat`'s side with `move(driver)` at each of its turns; returns the report and the
    number of turns."""
    out = Path(tempfile.mkdtemp()) / case
    proc, url = start(sim, out, scenario, seat)
    try:
        driver.get(url)
        turns = 0
        while True:
            WebDriverWait(driver, 120).until(lambda d: visible(d, "turn") or visible(d, "finished"))
            if visible(driver, "finished"):
                break
            turns += 1
            heading = driver.find_element(By.ID, "heading").text
            assert seat in heading and f"you are the {side}" in heading, heading
            assert driver.find_elements(By.CSS_SELECTOR, "#chart svg"), "the outcome-space chart is drawn"
            assert driver.find_elements(By.CSS_SELECTOR, "#best tr"), "the best offers are listed"
            turn = driver.execute_script("return shown")
            move(driver)
            # Taken when the page leaves this turn: hidden, or the next turn already shown.
            WebDriverWait(driver, 30).until(
                lambda d: not visible(d, "turn")
                or d.execute_script("return shown") != turn
                or d.find_element(By.ID, "error").text
            )
            error = driver.find_element(By.ID, "error").text
            assert not error, f"the move was refused: {error}"
        summary = driver.find_element(By.ID, "summary").text
        assert seat in summary, summary
        driver.get(url + "report.html")
        # Waited for, not read at once: a large page (inline charts) may still be parsing when
        # `get` returns, which made this check fail now and then on a loaded machine.
        played = f"the {side}'s side played by a person (sim play)"
        try:
            WebDriverWait(driver, 30).until(lambda d: played in d.page_source)
        except TimeoutException:
            raise AssertionError(f"report.html never said {played!r}: {driver.page_source[:500]}") from None
        driver.get(url)
        WebDriverWait(driver, 30).until(lambda d: visible(d, "finished"))
        driver.find_element(By.ID, "done").click()
        code = proc.wait(timeout=30)
        assert code in (0, 99), f"sim play exited {code}: {proc.stderr.read()}"
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, f"the page logged errors: {severe}"
    finally:
        if proc.poll() is None:
            proc.kill()
    report = json.loads((out / "report.json").read_text())
    played = [n for n in report["negotiations"] if n[side] == seat]
    assert played and all(n["played_by_person"] == side for n in played), played
    return played, turns


def offer_then_accept(driver, turns=[0]):
    """Offers the bank's best outcome at its first turn (composed by clicking it in the list),
    then accepts the offer on the table."""
    turns[0] += 1
    if turns[0] > 1 and visible(driver, "accept-box"):
        assert driver.find_element(By.ID, "standing-utility").text.startswith("Your utility")
        driver.find_element(By.ID, "accept").click()
    else:
        driver.find_element(By.ID, "best-0").click()
        best = driver.find_element(By.CSS_SELECTOR, "#best-0 td").text
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "offer-utility").text == best)
        if SCREENSHOT:
            driver.save_screenshot(SCREENSHOT)
        driver.find_element(By.ID, "offer").click()


def withdraw(driver):
    Select(driver.find_element(By.ID, "withdraw-clause")).select_by_value("no_onward_sharing")
    driver.find_element(By.ID, "withdraw-reason").send_keys("the person at the table walks away")
    driver.find_element(By.ID, "withdraw").click()


def walk_away_over_reservation(driver):
    Select(driver.find_element(By.ID, "withdraw-clause")).select_by_value("reservation_value")
    driver.find_element(By.ID, "withdraw").click()


def main():
    sim = sys.argv[1]
    driver = browser()
    try:
        [n], turns = play(sim, driver, "agreement", offer_then_accept)
        assert n["outcome"]["kind"] == "agreement", n["outcome"]
        assert turns >= 2 and n["transcript"][1]["side"] == "bank" and n["transcript"][1]["action"] == "offer"
        print(f"agreement: accepted by the {n['outcome']['by']} in round {n['outcome']['round']} after {turns} turn(s)")
        [n], turns = play(sim, driver, "withdrawal", withdraw)
        o = n["outcome"]
        assert (o["kind"], o["by"], o["clause"]) == ("withdrawal", "bank", "no_onward_sharing"), o
        assert o["reason"] == "the person at the table walks away", o
        print(f"withdrawal: by the bank over {o['clause']} in round {o['round']} after {turns} turn(s)")
        # A platform's seat: it negotiates with two banks; it walks away from each at its turn
        # over its reservation value.
        played, turns = play(
            sim, driver, "platform", walk_away_over_reservation, "scenarios/live-demo.toml", "demo-platform", "platform"
        )
        assert turns == 2 and all(
            (n["outcome"]["kind"], n["outcome"]["by"], n["outcome"]["clause"]) == ("withdrawal", "platform", "reservation_value")
            for n in played
        ), [n["outcome"] for n in played]
        print(f"platform seat: walked away from {len(played)} banks in {turns} turns")
    finally:
        driver.quit()
    print("sim play in Chromium: an agreement, a withdrawal and a platform seat, each in report.json")


if __name__ == "__main__":
    main()
