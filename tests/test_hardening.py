"""One test per attack class that must stay closed (issue 15, item 4): artifact paths on
write and on download, and model archives unpacked into the models cache."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from shipyard.errors import InvalidArgument
from shipyard.registry import ModelRegistry, archives
from shipyard.store.base import NewModelVersion
from shipyard.tracking import Client

BAD_PATHS = ["../x.txt", "a/../../x.txt", "/etc/passwd", "C:\\x.txt", "a\\..\\..\\x", "a\x00b"]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_artifact_paths_that_leave_the_run_are_refused_on_write_and_read(
    shipyard_client: Client, path: str
) -> None:
    run = shipyard_client.create_run("p", capture_code=False)
    with pytest.raises(InvalidArgument):
        shipyard_client.log_text(run.id, "x", path)
    with pytest.raises(InvalidArgument):
        shipyard_client.load_artifact(run.id, path)
    assert shipyard_client.list_artifacts(run.id) == []


def test_a_symlink_out_of_a_logged_folder_is_refused(
    shipyard_client: Client, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the run")
    folder = tmp_path / "report"
    (folder / "sub").mkdir(parents=True)
    (folder / "ok.txt").write_text("fine")
    (folder / "same.txt").symlink_to(folder / "ok.txt")  # inside the folder: fine
    run = shipyard_client.create_run("p", capture_code=False)
    logged = shipyard_client.log_artifact(run.id, folder, "report")
    assert sorted(a.path for a in logged) == ["report/ok.txt", "report/same.txt"]
    for link, target in (("sub/leak.txt", secret), ("linked", tmp_path)):
        (folder / link).symlink_to(target)
        with pytest.raises(InvalidArgument, match="outside the folder"):
            shipyard_client.log_artifact(run.id, folder, "again")
        (folder / link).unlink()
    assert not any(a.path.startswith("again/") for a in shipyard_client.list_artifacts(run.id))


def _zip(*entries: tuple[str, bytes], link: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
        if link is not None:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("packed", "message"),
    [
        (_zip(("ok.txt", b"1"), ("../evil.txt", b"x")), "outside its folder"),
        (_zip(("/tmp/evil.txt", b"x")), "outside its folder"),
        (_zip(("a\\..\\..\\evil.txt", b"x")), "outside its folder"),
        (_zip(("ok.txt", b"1"), link="model.pkl"), "symbolic link"),
        (b"not a zip", "not a zip file"),
    ],
)
def test_model_archives_that_escape_are_refused_whole(
    tmp_path: Path, packed: bytes, message: str
) -> None:
    folder = tmp_path / "unpacked"
    folder.mkdir()
    with pytest.raises(InvalidArgument, match=message):
        archives.unpack(packed, folder)
    assert list(folder.iterdir()) == []  # refused before a byte is written
    assert not (tmp_path / "evil.txt").exists()


def test_decompression_bombs_and_entry_floods_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = _zip(("zeros.bin", bytes(10_000_000)))  # ~10 KB packed
    assert len(bomb) < 50_000
    monkeypatch.setattr(archives, "MAX_BYTES", 1_000_000)
    with pytest.raises(InvalidArgument, match="unpacks to"):
        archives.unpack(bomb, tmp_path)
    monkeypatch.setattr(archives, "MAX_ENTRIES", 10)
    with pytest.raises(InvalidArgument, match="entries"):
        archives.unpack(_zip(*[(f"f{i}", b"") for i in range(11)]), tmp_path)


def test_the_registry_refuses_a_crafted_version_blob(
    shipyard_client: Client, tmp_path: Path
) -> None:
    """A version whose blob came from a client (the server's routes) is unpacked safely."""
    blob = shipyard_client.blobs.put_bytes(_zip(("../../escaped.txt", b"x")))
    shipyard_client.store.models.create_model_version(
        "crafted", NewModelVersion(flavor="sklearn", blob_hash=blob.hash), "ana", 1
    )
    with pytest.raises(InvalidArgument, match="outside its folder"):
        ModelRegistry(shipyard_client).load_model("models:/crafted/1")
    home = Path(shipyard_client.settings.home)
    assert not list(home.rglob("escaped.txt")) and not (home.parent / "escaped.txt").exists()


@pytest.mark.parametrize("path", [*BAD_PATHS[:4], "a/./b.txt", "a//b.txt"])
def test_the_stores_refuse_artifact_records_that_leave_the_run(client: Client, path: str) -> None:
    """A record can reach a store without the tracking client (the server's store RPC);
    another client later downloads files where its path says."""
    from shipyard.store import ArtifactRecord

    run = client.create_run("p", capture_code=False)
    good = client.log_text(run.id, "x", "ok.txt")
    bad = ArtifactRecord(run.id, path, good.blob_hash, good.size, good.serializer, 1)
    with pytest.raises(InvalidArgument):
        client.store.add_artifacts([good, bad])  # all or nothing
    assert [a.path for a in client.list_artifacts(run.id)] == ["ok.txt"]
