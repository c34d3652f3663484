"""The worker's preflight: an upload that returns probabilities is refused with the fix, while an
entry carried over from an earlier version is scored as it was before."""

from __future__ import annotations

import io

import torch

from tests.touchstone.conftest import upload
from touchstone.submissions.models import Submission
from touchstone.submissions.scoring import score_submission
from touchstone.submissions.services import submit_model


class Probabilities(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.linear(x.flatten(1)), dim=1)


def probabilities_model() -> bytes:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(Probabilities().eval()), buffer)
    return buffer.getvalue()


def test_an_upload_returning_probabilities_fails_its_preflight_but_a_carried_over_entry_is_scored(version, researcher):
    uploaded = submit_model(
        owner=researcher, version=version, uploaded_file=upload(probabilities_model()), model_name="Softmax"
    )
    assert score_submission(submission_id=uploaded.pk) == "failed"
    uploaded.refresh_from_db()
    assert uploaded.error_code == "malformed_output"
    assert "these are probabilities, not logits" in uploaded.error_message
    assert "Preflight on the first 257 items" in uploaded.error_message

    # Another file (freshly initialised weights), as an identical upload may be refused as such.
    carried = submit_model(
        owner=researcher, version=version, uploaded_file=upload(probabilities_model()), model_name="Softmax again"
    )
    Submission.objects.filter(pk=carried.pk).update(origin=Submission.Origin.REEVALUATION)
    assert score_submission(submission_id=carried.pk) == "scored"
