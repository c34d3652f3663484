"""The public pages: short function views, data from the stored leaderboards."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from evaluation.metrics import METRICS
from leaderboard.benchmarks.models import Benchmark, BenchmarkVersion
from leaderboard.front.charts import leaderboard_chart
from leaderboard.front.forms import UploadForm
from leaderboard.rankings.queries import leaderboard_payload
from leaderboard.submissions.models import Submission
from leaderboard.submissions.services import SubmissionRejected, submit_model, withdraw_submission


def _version(slug: str, version: str) -> BenchmarkVersion:
    return get_object_or_404(
        BenchmarkVersion.objects.visible().select_related("benchmark"), benchmark__slug=slug, version=version
    )


def home(request: HttpRequest) -> HttpResponse:
    cards = []
    for benchmark in Benchmark.objects.all():
        latest = benchmark.latest_version
        if latest is None:
            continue
        payload = leaderboard_payload(latest)
        cards.append({"benchmark": benchmark, "version": latest, "leaders": payload["entries"][:3],
                      "primary": payload["primary_metric"]})
    return render(request, "front/home.html", {"cards": cards})


def benchmark_detail(request: HttpRequest, slug: str) -> HttpResponse:
    benchmark = get_object_or_404(Benchmark, slug=slug)
    latest = benchmark.latest_version
    if latest is None:
        raise Http404
    return redirect(latest)


def version_detail(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    found = _version(slug, version)
    payload = leaderboard_payload(found)
    metric_titles = {name: METRICS[name].title if name in METRICS else name for name in payload["metrics"]}
    context = {
        "version": found,
        "benchmark": found.benchmark,
        "versions": found.benchmark.versions.visible().order_by("-published_at"),
        "payload": payload,
        "metric_titles": metric_titles,
        "higher_is_better": {name: METRICS[name].higher_is_better for name in payload["metrics"] if name in METRICS},
        "chart": leaderboard_chart(payload) if payload["entries"] else "",
        "pending": Submission.objects.filter(version=found, status__in=["queued", "running"]).count(),
    }
    return render(request, "front/version.html", context)


def submission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    submission = get_object_or_404(
        Submission.objects.select_related("version__benchmark", "owner").prefetch_related("metric_results"), pk=pk
    )
    if not submission.is_visible_to(request.user):
        raise Http404
    order = {name: position for position, name in enumerate(submission.version.report_metrics)}
    metrics = [
        {"name": result.metric, "title": METRICS[result.metric].title if result.metric in METRICS else result.metric,
         "value": result.value, "ci_low": result.ci_low, "ci_high": result.ci_high}
        for result in sorted(submission.metric_results.all(), key=lambda r: order.get(r.metric, len(order)))
        if result.condition == "clean"
    ]
    entry = getattr(submission, "entry", None)
    run = submission.runs.filter(outcome="scored").order_by("-attempt").first()
    context = {
        "submission": submission,
        "metrics": metrics,
        "entry": entry if submission.status == Submission.Status.SCORED else None,
        "run": run,
        "is_owner": request.user.is_authenticated and request.user.pk == submission.owner_id,
    }
    return render(request, "front/submission.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    found = _version(slug, version)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            submission = submit_model(
                owner=request.user,
                version=found,
                uploaded_file=data["model_file"],
                model_name=data["model_name"],
                description=data["description"],
                paper_url=data["paper_url"],
                code_url=data["code_url"],
            )
        except SubmissionRejected as rejection:
            form.add_error(rejection.field if rejection.field in form.fields else None, rejection.message)
        else:
            messages.success(request, f"Submission #{submission.pk} is queued for evaluation.")
            return redirect(submission)
    return render(request, "front/upload.html", {"form": form, "version": found, "benchmark": found.benchmark})


@login_required
def my_submissions(request: HttpRequest) -> HttpResponse:
    submissions = Submission.objects.filter(owner=request.user).select_related("version__benchmark")
    return render(request, "front/my_submissions.html", {"submissions": submissions})


@login_required
@require_POST
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    submission = get_object_or_404(Submission, pk=pk, owner=request.user)
    withdraw_submission(submission=submission)
    messages.success(request, f"Submission #{pk} was withdrawn; it no longer appears on the leaderboard.")
    return redirect(submission)
