"""What README.rst and `make run`'s banner tell a visitor of the demo holds:
each record they send a demo user to is one that user can open (a salesperson
sees only the leads assigned to them), and the banner names every demo login."""

import pathlib
import re
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parents[3]
DEMO = ROOT / "mail_sync_crm" / "demo" / "mail_sync_crm_demo.xml"


def _demo():
    """({login: user xml id}, {lead name: owner's user xml id})."""
    tree = ET.parse(DEMO)
    users, leads = {}, {}
    for record in tree.getroot().iter("record"):
        fields = {f.get("name"): f for f in record.iter("field")}
        if record.get("model") == "res.users":
            users[fields["login"].text] = record.get("id")
        elif record.get("model") == "crm.lead":
            owner = fields.get("user_id")
            leads[fields["name"].text] = owner.get("ref") if owner is not None else None
    return users, leads


def _demo_paragraph():
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    start = text.index("Run Odoo with the addon and demo data::")
    return " ".join(text[start : text.index("Test everything::", start)].split())


def test_each_user_is_sent_to_records_they_can_open():
    users, leads = _demo()
    visits = re.findall(r"as (\w+), open (.*?)(?:;|\.(?:\s|$))", _demo_paragraph())
    assert {login for login, _names in visits} >= {"sally", "sam"}, visits
    for login, names in visits:
        for name in re.findall(r'"([^"]+)"', names):
            assert name in leads, f"{name!r} is no demo lead"
            assert leads[name] == users[login], f"{login} cannot open {name!r}"


def test_the_banner_names_every_demo_login():
    users, _leads = _demo()
    banner = (ROOT / "scripts" / "run.sh").read_text(encoding="utf-8")
    for login in ["admin", *users]:
        assert re.search(rf"\b{login} / {login}\b", banner), login
