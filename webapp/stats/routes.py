"""The stats page: public figures for everyone logged in, per-user detail for admins."""

from flask import render_template
from flask_login import current_user, login_required

from webapp.stats import bp, charts
from webapp.stats.figures import service_figures, user_figures


@bp.get("/stats")
@login_required
def index():
    figures = service_figures()
    return render_template(
        "stats/index.html",
        figures=figures,
        jobs_chart=charts.jobs_per_hour(figures.hours),
        speed_chart=charts.speed_per_kind(figures.kinds),
        users=user_figures() if current_user.is_admin else None,
    )
