"""The verification gate against deliberately wrong answers: each is caught, with its first difference."""

from __future__ import annotations

import base64

import pytest

from webbench_lab.apps.verify import ENDPOINTS, check_answer, check_system, first_difference

BY_PATH = {e.path: e for e in ENDPOINTS}


def answer(status=200, ctype="text/plain; charset=utf-8", body=b"", length=True, chunked=False):
    headers = [["Content-Type", ctype]] if ctype else []
    if length:
        headers.append(["Content-Length", str(len(body))])
    if chunked:
        headers.append(["Transfer-Encoding", "chunked"])
    return {"status": status, "headers": headers, "body": base64.b64encode(body).decode()}


def good(path):
    e = BY_PATH[path]
    return answer(e.status, (e.media_type or "text/plain") + "; charset=utf-8", e.body or b"")


def test_expected_bodies_are_the_published_workloads():
    hello = BY_PATH["/Hello/100"].body.decode().splitlines()
    assert len(hello) == 100 and hello[0] == "0: Hello" and hello[-1] == "99: Hello"
    assert BY_PATH["/x/0"].body == b""
    assert BY_PATH["/fib/20"].body == b'{"result":6765}'
    assert BY_PATH["/data/7"].body == b'{"api":{"id":7,"name":"item-7"},"cache":"cached-7"}'
    assert BY_PATH["/nope"].status == 404


@pytest.mark.parametrize("path", [e.path for e in ENDPOINTS])
def test_right_answers_pass(path):
    assert check_answer(BY_PATH[path], good(path)).ok


def test_chunked_without_length_passes():
    e = BY_PATH["/Hello/100"]
    assert check_answer(e, answer(body=e.body, length=False, chunked=True)).ok


def test_wrong_body_names_the_first_difference():
    e = BY_PATH["/Hello/100"]
    wrong = e.body.replace(b"42: Hello", b"42: Hallo")
    check = check_answer(e, answer(body=wrong))
    assert not check.ok and "body differs at byte" in check.detail and "Hallo" in check.detail


def test_short_and_long_bodies():
    e = BY_PATH["/ping"]
    short = check_answer(e, answer(ctype="application/json", body=e.body[:-1]))
    assert "body ends after" in short.detail
    long = check_answer(e, answer(ctype="application/json", body=e.body + b"\n"))
    assert "1 extra bytes" in long.detail


def test_wrong_status():
    check = check_answer(BY_PATH["/nope"], answer(status=200))
    assert not check.ok and check.detail == "status 200, expected 404"


def test_missing_or_wrong_content_type():
    e = BY_PATH["/ping"]
    assert "Content-Type '(missing)'" in check_answer(e, answer(ctype=None, body=e.body)).detail
    html = check_answer(e, answer(ctype="text/html", body=e.body))
    assert not html.ok and "expected application/json" in html.detail


def test_no_framing_header():
    e = BY_PATH["/ping"]
    check = check_answer(e, answer(ctype="application/json", body=e.body, length=False))
    assert check.detail == "neither Content-Length nor chunked Transfer-Encoding"


def test_length_mismatch():
    e = BY_PATH["/ping"]
    a = answer(ctype="application/json", body=e.body)
    a["headers"][1][1] = "99"
    assert "Content-Length 99 but" in check_answer(e, a).detail


def test_no_answer():
    assert "no answer" in check_answer(BY_PATH["/ping"], {"url": "u", "error": "refused"}).detail


def test_several_ports_fail_if_one_fails():
    answers = [good(e.path) for e in ENDPOINTS] + [good(e.path) for e in ENDPOINTS]
    answers[len(ENDPOINTS) + 2] = answer(status=500)  # /ping on the second port
    checks = check_system(answers, [8000, 8001])
    bad = [c for c in checks if not c.ok]
    assert [c.path for c in bad] == ["/ping"] and bad[0].detail.startswith("port 8001: status 500")


def test_first_difference_shows_context():
    assert "got b'abX'" in first_difference(b"abX", b"abc")
