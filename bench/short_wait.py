"""Bench how long a short upload takes while a long recording renders, with each way of running the workers.

    python bench/short_wait.py [--minutes 10] [--short 11] [--settings before,lanes,lanes-nice]
                               [--burn 1]

For each setting: a private Redis, a fresh SQLite database and media folder, and real workers
(worker.py, as `make run` starts them). As one person would, a long recording (a 1280×720 "talk",
cached in bench/.cache/ by bench/silence.py) is uploaded with "Remove silence" and "Transcribe";
once its cut renders (past detection), an 11 s spoken clip is uploaded with both options too, and
all its jobs (preparation, silence removal, transcription, suggestions, fitted subtitles) are
waited for. `--burn N` runs N extra ffmpeg x264 encodes beside the long render, at the long job's
priority, standing in for a render that uses every core (parallel segment encodes).

Settings:
  before      the layout before lanes: 2 media workers and 1 transcription worker, one queue each
              (SHORT_SECONDS=0 puts every job in the long queues; nothing is niced)
  lanes       as `make run`, without priorities: 2 media, 1 transcription, 1 for each short lane
  lanes-nice  as `make run`: lanes, and long jobs at nice LONG_JOB_NICENESS (10)
  more        no lanes, more workers: 3 media and 2 transcription workers

Prints, for the short clip, how long its first job waited for a worker, the longest wait of any
of its jobs, and how long after its upload all its jobs were done; and how far the long render
went on meanwhile (its percent done at the clip's upload and when the clip was done). The round
stops once the clip is done.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# First: it puts the repository on sys.path, for `webapp` and `tests`.
from common import CACHE, OUR_PYTHON, ROOT, cached, print_table
from silence import talk_video

from jobs.ffmpeg import ffmpeg_exe
from tests.helpers import Auth, csrf_from, make_user
from webapp.localredis import free_port, start_redis, stop

MEDIA = ("media",)
LANES = [(1, ("media-short",)), (1, ("transcribe-short",))]  # a worker of its own for each short lane
# (process count, queues of each, environment) per setting.
SETTINGS = {
    "before": ([(2, MEDIA), (1, ("transcribe",))], {"SHORT_SECONDS": "0", "LONG_JOB_NICENESS": "0"}),
    "lanes": ([*LANES, (2, MEDIA), (1, ("transcribe",))], {"LONG_JOB_NICENESS": "0"}),
    "lanes-nice": ([*LANES, (2, MEDIA), (1, ("transcribe",))], {}),
    "more": ([(3, MEDIA), (2, ("transcribe",))], {"SHORT_SECONDS": "0", "LONG_JOB_NICENESS": "0"}),
}
DEFAULT_NICENESS = 10


def spoken_clip(seconds: float) -> Path:
    """`seconds` of generated speech over a 1280×720 picture, cached."""
    from tests.media import derive_track, speech_scene, write_track

    def make(part: Path) -> None:
        with tempfile.TemporaryDirectory() as folder:
            sound = write_track(
                Path(folder) / "speech.wav", derive_track(speech_scene(seconds + 2), 0.5, seconds)
            )
            subprocess.run(
                [
                    ffmpeg_exe(),
                    *("-hide_banner", "-nostdin", "-loglevel", "error", "-y"),
                    *(
                        "-f",
                        "lavfi",
                        "-i",
                        f"testsrc2=size=1280x720:rate=30:duration={seconds}",
                        "-i",
                        str(sound),
                    ),
                    *("-c:v", "libx264", "-preset", "superfast", "-g", "60", "-pix_fmt", "yuv420p"),
                    *("-c:a", "aac", "-shortest", "-movflags", "+faststart", str(part)),
                ],
                check=True,
            )

    [path] = cached(make, f"speech-{seconds:g}s-720p.mp4")
    return path


def upload(client, path: Path) -> None:
    token = csrf_from(client.get("/videos/new"))
    with open(path, "rb") as media:
        data = {
            "csrf_token": token,
            "media": (media, path.name),
            "silence": "y",
            "transcribe": "y",
            "vad": "y",
        }
        response = client.post("/videos/new", data=data, content_type="multipart/form-data")
    response.request.input_stream.close()
    assert response.status_code == 303, response.get_data(as_text=True)


def burn(niceness: int) -> subprocess.Popen:
    """An x264 encode that runs until stopped, at `niceness`: a stand-in for a render's other encodes."""
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin"]
    command += ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-c:v", "libx264", "-f", "null", "-"]
    return subprocess.Popen(["nice", "-n", str(niceness), *command], stdin=subprocess.DEVNULL)


def one_round(long: Path, short: Path, setting: str, burns: int, redis_url: str) -> dict:
    """Both uploads with the workers of `setting`; the figures of the short item and the long one's state."""
    from rq.job import Job

    from webapp import create_app, db
    from webapp.models import Item, Task
    from webapp.pipeline import redis_conn

    layout, extra = SETTINGS[setting]
    folder = Path(tempfile.mkdtemp(prefix="short-wait-"))
    env = {
        "SECRET_KEY": "bench",
        "DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
        "REDIS_URL": redis_url,
        "MEDIA_ROOT": str(folder / "media"),
        "INSTANCE_PATH": str(folder / "instance"),
        "HF_HUB_OFFLINE": "1",
        "SHORT_SECONDS": "",
        "LONG_JOB_NICENESS": "",
        **extra,
    }
    os.environ.update(env)
    app = create_app()
    with app.app_context():
        db.create_all()
        redis_conn().flushdb()
    make_user(app, email="bench@example.com")
    client = app.test_client()
    Auth(app, client).login(email="bench@example.com")

    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen(
            [str(OUR_PYTHON), "worker.py", *queues], cwd=ROOT, env={**os.environ, **env}, **quiet
        )
        for count, queues in layout
        for _ in range(count)
    ]
    burners = []
    try:
        time.sleep(8)  # the workers are listening (the transcription ones with their model), as on a server
        upload(client, long)

        def long_render() -> tuple[str, float]:
            with app.app_context():
                item = db.session.scalars(db.select(Item).order_by(Item.created_at)).first()
                task = next(t for t in item.tasks if t.kind == "silence")
                progress = Job.fetch(task.rq_job_id, connection=redis_conn()).get_meta(refresh=True)
                db.session.remove()
                return task.status, (progress.get("progress") or {}).get("percent", 0.0)

        while long_render()[1] <= 20.0:  # detection takes the first 20 %: wait for the render
            time.sleep(0.2)
        niceness = int(env["LONG_JOB_NICENESS"] or DEFAULT_NICENESS)
        burners = [burn(niceness) for _ in range(burns)]
        upload(client, short)
        began = long_render()[1]
        while True:
            with app.app_context():
                items = db.session.scalars(db.select(Item).order_by(Item.created_at)).all()
                if not items[1].busy:
                    figures = _figures(items[1])
                    db.session.remove()
                    status, percent = long_render()
                    # It went on meanwhile, its progress live: from where it was at the clip's upload.
                    figures["long"] = f"{began:.0f}→" + (
                        "done" if status == Task.DONE else f"{percent:.0f} %"
                    )
                    return figures
                db.session.remove()
            time.sleep(0.2)
    finally:
        for proc in burners:
            proc.kill()
        for proc in procs:  # a cold shutdown: the long jobs need not finish
            proc.send_signal(signal.SIGTERM)
        time.sleep(1.2)
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in [*procs, *burners]:
            proc.wait(60)


def _figures(item) -> dict:
    tasks = {task.kind: task for task in item.tasks}
    assert all(task.status == "done" for task in tasks.values()), {k: t.error for k, t in tasks.items()}
    finished = max(task.finished_at for task in tasks.values())
    for kind, task in tasks.items():
        print(f"  {kind}: waited {task.wait_seconds:.1f} s, ran {task.run_seconds:.1f} s", flush=True)
    return {
        "jobs": len(tasks),
        "first_wait": min(task.wait_seconds for task in tasks.values()),
        "longest_wait": max(task.wait_seconds for task in tasks.values()),
        "done_after": (finished - item.created_at).total_seconds(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10, help="length of the long recording")
    parser.add_argument("--short", type=float, default=11, help="seconds of the short clip")
    parser.add_argument("--settings", default="before,lanes,lanes-nice", help=f"of {', '.join(SETTINGS)}")
    parser.add_argument("--burn", type=int, default=1, help="extra x264 encodes beside the long render")
    args = parser.parse_args()

    long = talk_video(args.minutes, 2)
    short = spoken_clip(args.short)
    port = free_port()
    server = start_redis(port, Path(tempfile.mkdtemp(prefix="short-wait-redis-")))
    results = {}
    try:
        for setting in args.settings.split(","):
            print(f"{setting}: uploading {long.name}, then {short.name} while it renders …", flush=True)
            results[setting] = one_round(long, short, setting, args.burn, f"redis://127.0.0.1:{port}/0")
    finally:
        stop(server)

    base = next(iter(results.values()))["done_after"]
    rows = []
    for setting, figures in results.items():
        rows.append(
            [
                setting,
                figures["jobs"],
                f"{figures['first_wait']:.1f}",
                f"{figures['longest_wait']:.1f}",
                f"{figures['done_after']:.1f}",
                f"{base / figures['done_after']:.2f}×",
                figures["long"],
            ]
        )
    print()
    print(
        f"A {args.short:g} s spoken clip uploaded while a {args.minutes:g}-minute talk renders, both with "
        f"Remove silence and Transcribe; {args.burn} extra x264 encode(s) beside the render."
    )
    print(f"Machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}. Inputs in {CACHE}.")
    print_table(
        [
            "setting",
            "jobs",
            "first wait (s)",
            "longest wait (s)",
            "done after (s)",
            "speed-up",
            "long render",
        ],
        rows,
        [11, 4, 14, 16, 14, 8, 11],
        rule=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
