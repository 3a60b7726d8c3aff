"""The `relay` command: migrate, seed the demo clinic, serve a process, chat."""

import argparse
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
    from relay.ops.processes import SERVERS

    SERVERS[args.process]()
    return 0


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
                print(f"no patient named {args.as_name!r}; try --phone", file=sys.stderr)
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


def build_parser() -> argparse.ArgumentParser:
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
    serve.set_defaults(run=_serve)

    talk = commands.add_parser("chat", help="text the running bot from this terminal")
    who = talk.add_mutually_exclusive_group(required=True)
    who.add_argument("--as", dest="as_name", metavar="NAME", help='a demo patient, e.g. "James Carter"')
    who.add_argument("--phone", help="any phone number, e.g. an unknown one")
    talk.add_argument("--api-url", help="where the API listens (default http://127.0.0.1:$API_PORT)")
    talk.set_defaults(run=_chat)
    return parser


def main(argv: list[str] | None = None) -> int:
    configure()
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
