"""Uploads are streamed from the model file: its size is announced first and it is never read whole."""

from __future__ import annotations

import hashlib
import tracemalloc
from email.parser import BytesParser
from email.policy import HTTP

from evaluation.client import TouchstoneClient
from evaluation.multipart import MultipartBody
from tests.evaluation.fake_site import fake_site, json_route


def test_the_body_is_well_formed_multipart_of_the_announced_length(tmp_path):
    model = tmp_path / 'my "best" model.pt'
    model.write_bytes(bytes(range(256)) * 1000)
    body = MultipartBody({"model_name": "Näive CNN", "benchmark": "digits"}, {"model_file": model}, chunk_bytes=4096)
    raw = b"".join(body)
    assert len(raw) == len(body)
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {body.content_type}\r\n\r\n".encode() + raw)
    parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
    assert parts["model_name"].get_payload(decode=True).decode() == "Näive CNN"
    assert parts["benchmark"].get_payload(decode=True) == b"digits"
    assert parts["model_file"].get_payload(decode=True) == model.read_bytes()
    assert parts["model_file"].get_filename() == "my %22best%22 model.pt"


def test_an_upload_reads_the_model_in_chunks_and_sends_its_length_first(tmp_path):
    model = tmp_path / "large.pt"
    with open(model, "wb") as handle:
        for index in range(48):
            handle.write(hashlib.sha256(str(index).encode()).digest() * (1 << 15))  # 1 MiB each
    with fake_site({"/api/v1/submissions/": json_route({"id": 1}, status=201)}) as site:
        client = TouchstoneClient(site.url, "token")
        tracemalloc.start()
        try:
            assert client.submit(benchmark="digits", version="1.0.0", model_file=model, model_name="M") == {"id": 1}
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    ((length, _, head),) = site.bodies
    assert length > model.stat().st_size  # the whole file arrived, with the form around it
    assert b'name="model_file"; filename="large.pt"' in head
    # 48 MiB went out; at most a few chunks of 1 MiB were ever held at once.
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
