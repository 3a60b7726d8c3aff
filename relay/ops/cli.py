"""The `relay` command: migrate, seed the demo clinic, import clinic data, serve a process, chat."""

import argparse
import io
import sys
from pathlib import Path

from relay.core.logs import configure


def _migrate(_args: argparse.Namespace) -> int:
    from relay.ops.migrate import upgrade

    upgrade()
    print("database is at the latest migration")
    return 0


def _revision(args: argparse.Namespace) -> int:
    from relay.ops.migrate import make_revision, upgrade

    upgrade()  # autogenerate compares the models with a database at head
    print(f"wrote {make_revision(args.message)}: read it, then commit it")
    return 0


def _seed_demo(args: argparse.Namespace) -> int:
    from relay.core.db import session_scope
    from relay.demo.demo_file import SeedError, default_demo_file
    from relay.demo.loader import database_is_empty, seed_demo
    from relay.models import utcnow
    from relay.outreach.bulk import replan_all

    path = Path(args.file) if args.file else default_demo_file()
    try:
        with session_scope() as session:
            if args.if_empty and not database_is_empty(session):
                print("database already has a clinic; not seeding (drop --if-empty to reload the demo)")
                return 0
            counts = seed_demo(session, path)
            # Loading is like an EHR import: plan the outreach the data now calls for.
            replan_all(session, now=utcnow())
    except SeedError as exc:
        print(f"seed-demo: {exc}", file=sys.stderr)
        return 2
    print(f"loaded {path}: " + ", ".join(f"{n} {what}" for what, n in counts.items()) + "; outreach planned")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from relay.ops.processes import REPLICATED, SERVERS

    if args.process in REPLICATED:
        REPLICATED[args.process](args.replica or 0)
    elif args.replica is not None:
        print(f"serve {args.process}: --replica is for rasa and actions only", file=sys.stderr)
        return 2
    else:
        SERVERS[args.process]()
    return 0


def _replica_number(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("replicas are numbered from 0")
    return number


def _chat(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from relay.core.db import session_scope
    from relay.core.phones import InvalidPhoneNumber, to_e164
    from relay.core.settings import get_settings
    from relay.models import Patient
    from relay.ops.chat import chat
    from relay.records.clinics import get_clinic

    with session_scope() as session:
        clinic = get_clinic(session)
        if args.as_name:
            patient = session.scalars(select(Patient).where(Patient.name.ilike(args.as_name))).first()
            if patient is None:
                print("no patient by that name; try --phone", file=sys.stderr)  # names stay out of output
                return 2
            if patient.phone is None:
                print("that patient has no mobile number on file; try --phone", file=sys.stderr)
                return 2
            phone = patient.phone
        else:
            try:
                phone = to_e164(args.phone, clinic.region)
            except InvalidPhoneNumber as exc:
                print(f"--phone: {exc}", file=sys.stderr)
                return 2
        clinic_number = clinic.sms_number
    api_url = args.api_url or f"http://127.0.0.1:{get_settings().api_port}"
    chat(from_phone=phone, to_phone=clinic_number, api_url=api_url)
    return 0


# Files with more rows than this show a progress bar on a terminal while they are read.
PROGRESS_FROM_ROWS = 500


def _import_csv(args: argparse.Namespace) -> int:
    """Exit 0: all imported; 1: some rows rejected (the rest imported); 2: the file refused as a whole."""
    from tqdm import tqdm

    from relay.core.db import session_scope
    from relay.intake.core import import_batch
    from relay.intake.csv_files import CsvHeaderError, read_csv
    from relay.models import utcnow
    from relay.records.clinics import ClinicNotConfigured, get_clinic

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")  # spreadsheets write a byte-order mark first
    except (OSError, UnicodeDecodeError) as exc:
        reason = "not UTF-8 text (save it as CSV UTF-8)" if isinstance(exc, UnicodeDecodeError) else exc.strerror
        print(f"import csv: {path}: {reason}", file=sys.stderr)
        return 2
    rows = max(len(text.splitlines()) - 1, 0)  # about one line a row: enough to size the bar
    try:
        with session_scope() as session:
            tz = get_clinic(session).timezone
            quiet = rows <= PROGRESS_FROM_ROWS or not sys.stderr.isatty()
            with tqdm(total=rows, unit="row", desc=f"reading {path.name}", file=sys.stderr, disable=quiet) as bar:
                batch = read_csv(io.StringIO(text, newline=""), kind=args.kind, tz=tz, progress=lambda _: bar.update())
            report = import_batch(session, batch, now=utcnow(), source="csv")
    except (CsvHeaderError, ClinicNotConfigured) as exc:
        print(f"import csv: {path}: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 1 if report.rejections else 0


def _import_fhir(args: argparse.Namespace) -> int:
    """A Bundle (.json), or the NDJSON files of a Bulk Data $export read as one batch. Exit codes as for CSV."""
    from relay.core.db import session_scope
    from relay.core.settings import get_settings
    from relay.intake.core import import_batch
    from relay.intake.fhir import FhirInputError, read_bundle, read_ndjson
    from relay.models import utcnow
    from relay.records.clinics import ClinicNotConfigured

    mrn_system = get_settings().fhir_mrn_system
    paths = [Path(name) for name in args.files]
    try:
        if all(path.suffix.lower() == ".ndjson" for path in paths):
            # An $export writes one file per resource type; together they are one clinic, in any order.
            lines = [line for path in paths for line in path.read_text(encoding="utf-8").splitlines()]
            batch = read_ndjson(lines, mrn_system=mrn_system)
        elif len(paths) == 1:
            batch = read_bundle(paths[0].read_bytes(), mrn_system=mrn_system)
        else:
            print("import fhir: give one Bundle (.json), or any number of .ndjson files", file=sys.stderr)
            return 2
        with session_scope() as session:
            report = import_batch(session, batch, now=utcnow(), source="fhir")
    except (OSError, UnicodeDecodeError, FhirInputError, ClinicNotConfigured) as exc:
        print(f"import fhir: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 1 if report.rejections else 0


def _sync_fhir(_args: argparse.Namespace) -> int:
    """Exit 0: in sync; 1: some resources rejected or write-backs failed (the rest went through); 2: no sync."""
    from relay.core.settings import get_settings
    from relay.intake.fhir_client import FhirError
    from relay.intake.fhir_sync import sync_from_settings
    from relay.models import utcnow

    if not get_settings().fhir_base_url:
        print("sync fhir: FHIR_BASE_URL is not set (the EHR's FHIR R4 base URL; see .env.example)", file=sys.stderr)
        return 2
    try:
        summary = sync_from_settings(now=utcnow())
    except FhirError as exc:  # the server refused or kept failing, or the FHIR_* settings can't work
        print(f"sync fhir: {exc}", file=sys.stderr)
        return 2
    print(summary.text())
    return 1 if summary.rejections or summary.write_back.failed else 0


def _create_user(args: argparse.Namespace) -> int:
    """Exit 0: created, the enrolment link printed; 2: the email already has an account (or is no email)."""
    from relay.core.db import session_scope
    from relay.core.settings import get_settings
    from relay.models import StaffRole, utcnow
    from relay.staff.accounts import AccountError, create_user, enrolment_link

    settings = get_settings()
    try:
        with session_scope() as session:
            user, token = create_user(
                session, email=args.email, role=StaffRole(args.role), name=args.name, now=utcnow()
            )
            email, role = user.email, user.role
    except AccountError as exc:
        print(f"create-user: {exc}", file=sys.stderr)
        return 2
    print(f"created {role} {email}. Send them this enrolment link (it works once):")
    print(f"  {enrolment_link(token)}")
    print(f"It expires in {settings.console_enrolment_hours} hours.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from relay.intake.csv_files import CSV_KINDS

    parser = argparse.ArgumentParser(prog="relay", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("migrate", help="upgrade the database to the latest migration").set_defaults(run=_migrate)

    revision = commands.add_parser("revision", help="write a new migration for what the models changed")
    revision.add_argument("message", help='what it does, e.g. "add console sessions"')
    revision.set_defaults(run=_revision)

    seed = commands.add_parser("seed-demo", help="load the demo clinic (idempotent)")
    seed.add_argument("--file", help="demo file (default: ../shared/demo/clinic.yaml, else the bundled copy)")
    seed.add_argument("--if-empty", action="store_true", help="only seed a database that has no clinic yet")
    seed.set_defaults(run=_seed_demo)

    serve = commands.add_parser("serve", help="run one process of the stack (see the Procfile)")
    serve.add_argument("process", choices=["api", "actions", "worker", "cron", "redis", "rasa"])
    serve.add_argument(
        "--replica",
        type=_replica_number,
        metavar="I",
        help="rasa and actions: start replica I (from 0; default 0): Rasa on RASA_URL's port + I, "
        "its action server on ACTION_SERVER_PORT + I (RASA_REPLICAS says how many the API uses)",
    )
    serve.set_defaults(run=_serve)

    talk = commands.add_parser("chat", help="text the running bot from this terminal")
    who = talk.add_mutually_exclusive_group(required=True)
    who.add_argument("--as", dest="as_name", metavar="NAME", help='a demo patient, e.g. "James Carter"')
    who.add_argument("--phone", help="any phone number, e.g. an unknown one")
    talk.add_argument("--api-url", help="where the API listens (default http://127.0.0.1:$API_PORT)")
    talk.set_defaults(run=_chat)

    intake = commands.add_parser("import", help="bring clinic data in from files")
    doors = intake.add_subparsers(dest="door", required=True)
    csv_door = doors.add_parser("csv", help="a CSV export of one kind (docs/csv.md)")
    csv_door.add_argument("file", help="the CSV file, UTF-8 with a header row")
    csv_door.add_argument("--kind", required=True, choices=CSV_KINDS, help="what the file holds")
    csv_door.set_defaults(run=_import_csv)
    fhir_door = doors.add_parser("fhir", help="a FHIR R4 Bundle, or Bulk Data NDJSON files (docs/fhir.md)")
    fhir_door.add_argument("files", nargs="+", help="bundle.json, or Patient.ndjson ServiceRequest.ndjson ...")
    fhir_door.set_defaults(run=_import_fhir)

    staff = commands.add_parser("create-user", help="add a staff member to the console and print their enrolment link")
    staff.add_argument("email", help="their email address: they sign in with it")
    staff.add_argument("--role", required=True, choices=["staff", "admin"], help="admin also manages content")
    staff.add_argument("--name", help="how the console shows them (default: the part of the email before @)")
    staff.set_defaults(run=_create_user)

    sync = commands.add_parser("sync", help="bring clinic data in from the EHR, and Relay's bookings back to it")
    sources = sync.add_subparsers(dest="source", required=True)
    sources.add_parser("fhir", help="one round with the FHIR server at FHIR_BASE_URL").set_defaults(run=_sync_fhir)
    return parser


def main(argv: list[str] | None = None) -> int:
    configure()
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
