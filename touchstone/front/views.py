"""The public pages: short function views, data from the stored leaderboards."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from evaluation.metrics import METRICS
from touchstone import tasks
from touchstone.benchmarks.history import version_history
from touchstone.benchmarks.models import Benchmark, BenchmarkVersion
from touchstone.front import continuity
from touchstone.front.board import public_board, version_parts
from touchstone.front.breakdown_charts import breakdown_charts
from touchstone.front.forms import UploadForm
from touchstone.front.page_cache import public_page
from touchstone.front.progress_chart import progress_chart
from touchstone.rankings import disclosure
from touchstone.rankings.comparisons import ComparisonUnavailable, compare_submissions, stored_comparison
from touchstone.rankings.finals import final_choice, final_choices_of
from touchstone.rankings.progress import benchmark_progress
from touchstone.submissions.models import Submission, Team, is_teammate
from touchstone.submissions.queueing import queue_note, queue_place
from touchstone.submissions.services import (
    FINAL_SUBMISSIONS_PER_TEAM,
    SubmissionRejected,
    email_unconfirmed,
    mark_final,
    submit_model,
    unmark_final,
)
from touchstone.submissions.standing import OWN_LIST_LIMIT, UnknownFilter, own_submissions, standing
from touchstone.throttles import comparison_wait


def _version(slug: str, version: str) -> BenchmarkVersion:
    return get_object_or_404(
        BenchmarkVersion.objects.visible().select_related("benchmark"), benchmark__slug=slug, version=version
    )


@public_page
def home(request: HttpRequest) -> HttpResponse:
    # A card shows the previous version's board while a new one has no entry yet (``continuity``).
    cards = [card for benchmark in Benchmark.objects.all() if (card := continuity.home_card(benchmark))]
    return render(request, "front/home.html", {"cards": cards})


@public_page
def benchmark_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """The benchmark's versions, newest first, with their changelogs, and its progress over time."""
    benchmark = get_object_or_404(Benchmark, slug=slug)
    history = version_history(benchmark)
    if not history:
        raise Http404
    # Versions are listed newest first, so each one is superseded by the one listed before it.
    rows = [{"version": found, "superseded_by": history[i - 1] if i else None} for i, found in enumerate(history)]
    progress = benchmark_progress(benchmark)
    table = [
        {**row, "version": entry["version"], "part": entry["part"], "metric": entry["metric"]}
        for entry in progress["versions"]
        for row in entry["records"]
    ]
    context = {
        "benchmark": benchmark,
        "latest": history[0],
        "rows": rows,
        "progress": progress,
        "progress_table": sorted(table, key=lambda row: (row["date"], row["submission"])),
        "chart": progress_chart(progress),
        "metric_titles": {name: METRICS[name].title for name in METRICS},
    }
    return render(request, "front/benchmark.html", context)


@public_page
def version_detail(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    found = _version(slug, version)
    context = {
        "version": found,
        "benchmark": found.benchmark,
        **version_parts(found, request.build_absolute_uri),
        "maintains": found.benchmark.is_maintained_by(request.user),
        **public_board(found),
        "pending": Submission.objects.filter(version=found, status__in=["queued", "running"]).count(),
        **continuity.version_context(found, request.user),
    }
    return render(request, "front/version.html", context)


def submission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    submission = get_object_or_404(
        Submission.objects.select_related("version__benchmark", "owner").prefetch_related("metric_results"), pk=pk
    )
    if not submission.is_visible_to(request.user):
        raise Http404
    scores = disclosure.submission_scores(submission)
    metrics = [
        {"name": name, "title": METRICS[name].title if name in METRICS else name, **interval}
        for name, interval in scores["metrics"].items()
    ]
    run = submission.scored_run()
    is_owner = request.user.is_authenticated and request.user.pk == submission.owner_id
    in_team = is_teammate(request.user, submission)
    is_open = submission.version.is_open
    breakdowns = disclosure.submission_breakdowns(submission)
    context = {
        "submission": submission,
        "metrics": metrics,
        "scores": scores,
        "entry": disclosure.submission_ranking(submission),
        "breakdowns": breakdowns,
        "charts": breakdown_charts(breakdowns, submission.model_name),
        # Only submissions whose breakdowns anyone may see: the overlay fetches them from the API.
        "overlay_choices": [
            other
            for other in (disclosure.submissions_with_breakdowns(submission.version) if breakdowns else [])
            if other.pk != submission.pk
        ],
        "run": run,
        "progress_message": queue_note(submission),
        "queue_place": queue_place(submission),
        "is_owner": is_owner,
        # Nothing is withdrawn once the version is frozen: its final board is published.
        "can_withdraw": is_owner and is_open and submission.status != Submission.Status.WITHDRAWN,
        "can_restore": is_owner
        and is_open
        and submission.status == Submission.Status.WITHDRAWN
        and submission.scored_at is not None,
        "final": final_choice(submission, request.user),
        # Baselines belong to no team; a team of one has its page like any other.
        "team": None
        if submission.is_baseline
        else Team.objects.filter(benchmark_id=submission.version.benchmark_id, name__iexact=submission.team)
        .select_related("benchmark")
        .first(),
        "can_choose_final": in_team
        and is_open
        and not submission.is_baseline
        and submission.status == Submission.Status.SCORED,
        "final_limit": FINAL_SUBMISSIONS_PER_TEAM,
    }
    return render(request, "front/submission.html", context)


def compare(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    found = _version(slug, version)
    payload = disclosure.leaderboard(found)
    choices = [(e["submission"], f"#{e['rank']} {e['model_name']} ({e['team']})") for e in payload["entries"]]
    context = {
        "version": found,
        "benchmark": found.benchmark,
        "choices": choices,
        "comparison": None,
        "error": None,
        "open_board": payload["part"] == "feedback",
    }
    a, b = request.GET.get("a"), request.GET.get("b")
    if a and b:
        entries = {str(e["submission"]): e for e in payload["entries"]}
        if a not in entries or b not in entries:
            context["error"] = "Pick two entries of this leaderboard."
        else:
            context["a"], context["b"] = entries[a], entries[b]
            try:
                first, second = disclosure.comparable_pair(found, int(a), int(b))
                comparison = stored_comparison(version=found, a=first, b=second)
                if comparison is None:
                    # The same rate as the API's compare endpoint, counted together with it.
                    wait = comparison_wait(request)
                    if wait is not None:
                        return _comparison_refused(request, context, wait)
                    comparison = compare_submissions(version=found, a=first, b=second)
                context["comparison"] = disclosure.shown_comparison(found, comparison)
            except disclosure.ComparisonRefused as refusal:
                context["error"] = refusal.message
            except ComparisonUnavailable as error:
                context["error"] = str(error)
    return render(request, "front/compare.html", context)


def _comparison_refused(request: HttpRequest, context: dict, wait: int) -> HttpResponse:
    context["error"] = (
        f"These two entries have not been compared before, and too many new comparisons were computed for "
        f"you recently. Try again in {wait} seconds; stored comparisons, such as those of neighbouring "
        "ranks, still open at once."
    )
    response = render(request, "front/compare.html", context, status=429)
    response["Retry-After"] = str(wait)
    return response


@login_required
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    found = _version(slug, version)
    if not found.is_open:
        # No form to fill in: the page says why and where to submit instead.
        return render(request, "front/upload.html", {"version": found, "benchmark": found.benchmark})
    form = UploadForm(request.POST or None, request.FILES or None)
    earlier = None
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
            earlier = rejection.earlier
        else:
            tasks.queue_evaluation(submission.pk)
            messages.success(request, f"Submission #{submission.pk} is queued for evaluation.")
            return redirect(submission)
    context = {
        "form": form,
        "version": found,
        "benchmark": found.benchmark,
        "standing": standing(owner=request.user, version=found),
        "unconfirmed": email_unconfirmed(request.user),
        "earlier": earlier,
    }
    return render(request, "front/upload.html", context)


@login_required
def my_submissions(request: HttpRequest) -> HttpResponse:
    """The researcher's submissions with status and released score, filtered by benchmark, version, status."""
    chosen = {name: request.GET.get(name, "").strip() for name in ("benchmark", "version", "status")}
    error = ""
    try:
        submissions = list(own_submissions(owner=request.user, **chosen)[:OWN_LIST_LIMIT])
    except UnknownFilter as unknown:
        submissions, error = [], str(unknown)
    finals = final_choices_of(submissions, request.user)
    ladder = disclosure.ladder_outcomes(submissions)
    rows = []
    for submission in submissions:
        scores = disclosure.submission_scores(submission)
        primary = submission.version.primary_metric
        rows.append(
            {
                "submission": submission,
                "final": finals.get(submission.pk),
                "released": ladder.get(submission.pk),
                "score": scores["metrics"].get(primary),
                "metric": primary,
                "part": scores["part"],
            }
        )
    context = {
        "rows": rows,
        "chosen": chosen,
        "error": error,
        "statuses": Submission.Status.values,
        "benchmarks": Benchmark.objects.filter(versions__submissions__owner=request.user).distinct().order_by("slug"),
        "limit": OWN_LIST_LIMIT,
    }
    return render(request, "front/my_submissions.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask first (GET shows what withdrawing does), then withdraw on the confirming POST."""
    submission = get_object_or_404(Submission.objects.select_related("version__benchmark"), pk=pk, owner=request.user)
    if request.method == "GET" or request.POST.get("confirm") != "yes":
        return render(request, "front/withdraw_confirm.html", {"submission": submission})
    try:
        tasks.withdraw(submission)
    except SubmissionRejected as rejection:
        messages.error(request, rejection.message)
    else:
        messages.success(
            request,
            f"Submission #{pk} was withdrawn; it no longer appears on the leaderboard. You still see it here, "
            "and you can restore it while the version is open.",
        )
    return redirect(submission)


@login_required
@require_POST
def restore(request: HttpRequest, pk: int) -> HttpResponse:
    submission = get_object_or_404(Submission, pk=pk, owner=request.user)
    try:
        tasks.restore(submission)
    except SubmissionRejected as rejection:
        messages.error(request, rejection.message)
    else:
        messages.success(
            request, f"Submission #{pk} was restored; it is back on the leaderboard once it is recomputed."
        )
    return redirect(submission)


@login_required
@require_POST
def choose_final(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark or unmark (``action``) one of the team's final submissions; any member of the team may."""
    submission = get_object_or_404(Submission.objects.select_related("version"), pk=pk)
    if not is_teammate(request.user, submission):
        raise Http404
    marking = request.POST.get("action") != "unmark"
    try:
        if marking:
            mark_final(submission=submission)
        else:
            unmark_final(submission=submission)
    except SubmissionRejected as rejection:
        messages.error(request, rejection.message)
    else:
        done = "is now one of your team's final submissions" if marking else "is no longer a final submission"
        messages.success(request, f"Submission #{pk} {done}.")
    return redirect(submission)
