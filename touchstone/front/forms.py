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
