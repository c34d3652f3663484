"""The commands of ``touchstone`` that talk to a server: ``fetch``, ``submit`` and ``check``.

A server is named by ``--server`` or ``TOUCHSTONE_SERVER``, never guessed: a default address
could reach another site on the same machine. Before anything else each command asks the
server who it is (``/api/v1/about/``) and says which server and which Touchstone it talks to.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

import evaluation
from evaluation.backoff import Backoff
from evaluation.client import ClientError, JSONObject, TouchstoneClient, progress_bar
from evaluation.fetching import fetch_version, latest_version, version_folder

if TYPE_CHECKING:
    from evaluation.local_check import SiteLimits

SERVER_VARIABLE = "TOUCHSTONE_SERVER"
TOKEN_VARIABLE = "TOUCHSTONE_TOKEN"


def add_server_option(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    need = "" if required else "; without one, the site's default limits are used"
    parser.add_argument(
        "--server",
        help=f"the Touchstone site, e.g. https://touchstone.example.org (default: ${SERVER_VARIABLE}{need})",
    )


def resolve_server(given: str | None) -> str:
    """The server from ``--server`` or ``TOUCHSTONE_SERVER``; a ``ClientError`` when neither names one."""
    server = optional_server(given)
    if server is None:
        raise ClientError(
            f"no server given: pass --server URL or set {SERVER_VARIABLE}=URL "
            "(a site started with `make run` is http://127.0.0.1:8000)"
        )
    return server


def optional_server(given: str | None) -> str | None:
    """The server from ``--server`` or ``TOUCHSTONE_SERVER``, or ``None`` when neither names one."""
    server = (given or os.environ.get(SERVER_VARIABLE) or "").strip()
    if not server:
        return None
    parts = urlsplit(server)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        source = "--server" if given else SERVER_VARIABLE
        raise ClientError(f"{source} is {server!r}, not an http:// or https:// address of a Touchstone site")
    return server.rstrip("/")


def _say_on_new_line(message: str) -> None:
    # The progress bar redraws one line without ending it; a message starts a line of its own.
    print(f"\n{message}", file=sys.stderr)


def connect(
    server: str, token: str | None = None, *, backoff: Backoff | None = None
) -> tuple[TouchstoneClient, JSONObject]:
    """A client of ``server`` once it has answered as a Touchstone site; says which one it is."""
    client = TouchstoneClient(server, token, backoff=backoff, say=_say_on_new_line)
    try:
        # Asked without the token: a wrong token is the upload's to report, not a sign of another site.
        about = TouchstoneClient(server).about()
    except ClientError as error:
        raise ClientError(
            f"{server} does not answer as a Touchstone site ({error}); check --server or {SERVER_VARIABLE}"
        ) from None
    if about.get("name") != "Touchstone" or not about.get("version"):
        raise ClientError(
            f"{server}/api/v1/about/ does not describe a Touchstone site; check --server or {SERVER_VARIABLE}"
        )
    print(
        f"server: {server} (Touchstone {about['version']}, evaluator {about.get('evaluator_version')})", file=sys.stderr
    )
    if about.get("evaluator_version") != evaluation.EVALUATOR_VERSION:
        print(
            f"warning: this client's evaluator is {evaluation.EVALUATOR_VERSION} and the server's is "
            f"{about.get('evaluator_version')}: local scores may differ from the site's; install the client of "
            f"Touchstone {about['version']}",
            file=sys.stderr,
        )
    return client, about


def split_benchmark(value: str, version: str | None = None) -> tuple[str, str | None]:
    """``SLUG`` or ``SLUG/VERSION`` (and ``--version``, which must agree) as slug and version."""
    slug, _, named = value.strip("/").partition("/")
    if named and version and named != version:
        raise ClientError(f"--benchmark names version {named} and --version {version}; give one")
    return slug, named or version


def fetch_command(arguments: argparse.Namespace) -> int:
    slug, version = split_benchmark(arguments.benchmark, arguments.version)
    server = resolve_server(arguments.server)
    client, _ = connect(server)
    version = version or latest_version(client, slug)
    fetched = fetch_version(client, slug, version, arguments.dest)
    dataset = fetched.dataset
    how = "already there, verified; nothing downloaded" if fetched.already_there else "verified"
    print(
        f"{fetched.folder}: {dataset.spec.slug} {dataset.spec.version}, {len(dataset.data.labels)} dev items, "
        f"content hash {dataset.content_hash} ({how})"
    )
    return 0


def submit_command(arguments: argparse.Namespace) -> int:
    from evaluation.archive import inspect_model_file

    token = arguments.token or os.environ.get(TOKEN_VARIABLE)
    if not token:
        print(f"error: give --token or set {TOKEN_VARIABLE} (see your API token page)", file=sys.stderr)
        return 2
    slug, version = split_benchmark(arguments.benchmark, arguments.version)
    server = resolve_server(arguments.server)
    client, about = connect(server, token, backoff=Backoff(give_up_seconds=arguments.give_up_after))
    version = version or latest_version(client, slug)
    if not _say_standing(client, slug, version):
        return 1
    # The site's own upload checks, before the file is sent: a refused file costs no upload.
    limit = about.get("max_upload_bytes")
    inspect_model_file(arguments.model, max_bytes=limit if isinstance(limit, int) else 1 << 30)
    created = client.submit(
        benchmark=slug,
        version=version,
        model_file=arguments.model,
        model_name=arguments.name,
        description=arguments.description,
        paper_url=arguments.paper_url,
        code_url=arguments.code_url,
    )
    page = f"{server}/submissions/{created['id']}/"
    print(f"submitted #{created['id']} to {slug} {version}: {page}", file=sys.stderr)
    try:
        final = client.wait(created["id"], on_update=progress_bar)
        if final["status"] == "scored":
            # The Ladder's release follows scoring by a moment (the leaderboard task computes it).
            final = client.wait_for_release(created["id"])
    except ClientError as error:
        raise ClientError(f"{error}\nthe submission goes on without this command; follow it at {page}") from None
    print(file=sys.stderr)
    return _print_result(final)


def _say_standing(client: TouchstoneClient, slug: str, version: str) -> bool:
    """Print the quota left today and the size limit; False when no submission is left.

    A site too old to report them (no ``quota/``) is uploaded to as before.
    """
    try:
        standing = client.get(f"quota/?{urlencode({'benchmark': slug, 'version': version})}")
    except ClientError as error:
        if "HTTP 404" in str(error):
            return True
        raise
    print(f"quota: {standing.get('summary')}", file=sys.stderr)
    if standing.get("left") == 0:
        print(
            f"error: no submission to {slug} {version} is left in the last 24 hours; nothing was uploaded",
            file=sys.stderr,
        )
        return False
    return True


def _print_result(final: JSONObject) -> int:
    if final["status"] != "scored":
        print(f"{final['status']}: {final.get('error') or ''}", file=sys.stderr)
        return 1
    ladder = final.get("ladder")
    if isinstance(ladder, dict):
        if ladder.get("improved"):
            print(
                f"feedback {ladder['metric']} (Ladder): {ladder['released']:.4f}; this submission beat your "
                "team's best and was released"
            )
        else:
            print(
                "this submission did not beat your team's best by more than the noise, so the Ladder did not "
                "release it; nothing more about it is shown while the version is open"
            )
    for name, interval in final["metrics"].items():
        print(f"{name:>16}: {interval['value']:.4f}  95% CI [{interval['ci_low']:.4f}, {interval['ci_high']:.4f}]")
    return 0


def _local_versions(root: Path, slug: str) -> list[str]:
    folder = root / slug
    if not folder.is_dir():
        return []
    return sorted(entry.name for entry in folder.iterdir() if (entry / "version.json").exists())


def _held_folder(arguments: argparse.Namespace) -> Path:
    """The folder ``--benchmark`` names on this machine: a benchmark folder, or a version ``fetch`` kept."""
    given = Path(arguments.benchmark)
    if (given / "benchmark.toml").exists():
        return given
    slug, version = split_benchmark(arguments.benchmark)
    root = Path(arguments.data)
    held = _local_versions(root, slug)
    if version is None and len(held) == 1:
        version = held[0]
    if version is None or version not in held:
        where = f"{root / slug} holds {', '.join(held)}" if held else f"nothing is fetched under {root / slug}"
        raise ClientError(
            f"{arguments.benchmark}: {where}; name a version as {slug}/VERSION, or give --server "
            f"(or set {SERVER_VARIABLE}) to fetch it"
        )
    return version_folder(root, slug, version)


def _check_folder(arguments: argparse.Namespace, server: str | None) -> tuple[Path, JSONObject]:
    """The folder to check against and the server's ``about`` (empty without one).

    With a server, a version is fetched first, or the copy already fetched is checked against
    the published one. A server that cannot be reached leaves the copy on this machine, with a
    warning that the site's default limits stand in for its own.
    """
    if server is None:
        return _held_folder(arguments), {}
    try:
        client, about = connect(server)
    except ClientError as error:
        try:
            held = _held_folder(arguments)
        except ClientError:
            raise error from None
        print(f"warning: {error}\nchecking {held} with the site's default limits", file=sys.stderr)
        return held, {}
    given = Path(arguments.benchmark)
    if (given / "benchmark.toml").exists():
        return given, about
    slug, version = split_benchmark(arguments.benchmark)
    version = version or latest_version(client, slug)
    fetched = fetch_version(client, slug, version, Path(arguments.data))
    if not fetched.already_there:
        print(f"fetched {slug} {version} into {fetched.folder}", file=sys.stderr)
    return fetched.folder, about


def check_command(arguments: argparse.Namespace) -> int:
    from evaluation.local_check import SiteLimits, check_model
    from evaluation.public import load_for_evaluation

    server = optional_server(arguments.server)
    folder, about = _check_folder(arguments, server)
    limits = SiteLimits.from_about(about)
    if arguments.memory_mb is not None:
        limits = SiteLimits(limits.batch_size, limits.max_upload_bytes, arguments.memory_mb * 1024 * 1024)
    if server is None:
        print(f"no server given: checking with the site's default limits ({_limits_text(limits)})", file=sys.stderr)
    dataset = load_for_evaluation(folder, "dev")
    info, items = check_model(
        arguments.model,
        dataset,
        limits=limits,
        wall_seconds=arguments.wall_seconds,
        allow_unsandboxed=arguments.allow_unsandboxed,
    )
    print(f"upload checks: passed ({info.format}, {info.size_bytes} bytes, sha256 {info.sha256})")
    print(
        f"preflight: passed on the first {items} items of the public dev split of {dataset.spec.slug} "
        f"{dataset.spec.version} ({_limits_text(limits)})"
    )
    return 0


def _limits_text(limits: SiteLimits) -> str:
    from evaluation.local_check import MIB

    return (
        f"batches of {limits.batch_size}, upload limit {limits.max_upload_bytes / MIB:g} MiB, "
        f"sandbox memory {limits.memory_bytes / MIB:g} MiB"
    )
