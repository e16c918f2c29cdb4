"""The gate verdict as a JUnit XML report, which CI systems show as a test result.

One test case: passed (exit 0), a failure (exit 1: a measured regression, or too little
evidence to prove safety) or an error (exit 2: unusable input). Built from the verdict's
JSON dict, read defensively, so the XML follows whatever the verdict carries.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

SUITE = "misalign-eval gate"


def _exit_code(payload: dict) -> int:
    code = payload.get("exit_code")
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    verdict = str(payload.get("verdict") or payload.get("outcome") or "").lower()
    return 0 if verdict == "pass" else 2 if verdict == "error" else 1


def _case_name(payload: dict) -> str:
    tasks = payload.get("tasks")
    where = ", ".join(map(str, tasks)) if isinstance(tasks, list) and tasks else "shared tasks"
    margin = payload.get("margin")
    bound = f" <= {margin:g}" if isinstance(margin, (int, float)) else ""
    return f"candidate minus baseline misalignment rate{bound} ({where})"


def _properties(payload: dict) -> ET.Element:
    """Every scalar field of the verdict, and nested ones as JSON text, for the CI's detail view."""
    properties = ET.Element("properties")
    for key, value in payload.items():
        if value is None or key == "message":
            continue
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        ET.SubElement(properties, "property", name=str(key), value=text)
    return properties


def junit_xml(payload: dict) -> str:
    """The JUnit XML document (one suite, one case) for a gate verdict's JSON dict."""
    code = _exit_code(payload)
    message = str(payload.get("message") or "")
    outcome = str(payload.get("outcome") or payload.get("verdict") or "unknown")
    failures, errors = int(code == 1), int(code not in (0, 1))
    counts = {"tests": "1", "failures": str(failures), "errors": str(errors), "skipped": "0"}
    root = ET.Element("testsuites", name=SUITE, **counts)
    suite = ET.SubElement(root, "testsuite", name=SUITE, **counts)
    suite.append(_properties(payload))
    case = ET.SubElement(suite, "testcase", classname="misalign_eval.gate", name=_case_name(payload))
    if code != 0:
        first = message.splitlines()[0] if message else outcome
        detail = ET.SubElement(case, "failure" if code == 1 else "error", message=first, type=outcome)
        detail.text = message
    ET.SubElement(case, "system-out").text = message
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
