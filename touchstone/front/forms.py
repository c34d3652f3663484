from __future__ import annotations

from django import forms


class UploadForm(forms.Form):
    model_file = forms.FileField(
        help_text="A TorchScript (torch.jit.save) or torch.export (.pt2) file mapping float32 inputs to logits."
    )
    model_name = forms.CharField(max_length=120)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    paper_url = forms.URLField(required=False, assume_scheme="https")
    code_url = forms.URLField(required=False, assume_scheme="https")


class DraftForm(forms.Form):
    folder = forms.FileField(
        help_text="The benchmark folder (benchmark.toml, dev.npz, test.npz) packed as a .zip or .tar.gz archive."
    )
    keep_exposed_hidden = forms.BooleanField(
        required=False,
        label="Keep exposed items hidden",
        help_text="Hidden items whose results an earlier version published (or that were in its dev split) move "
        "to the dev split unless you tick this; the choice is recorded in the review.",
    )
