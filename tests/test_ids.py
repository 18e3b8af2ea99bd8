"""Ids are never given again after a deletion: a new account must not inherit a deleted one's folder,
rate limits or jobs (SQLite reuses the highest integer key unless the table has AUTOINCREMENT)."""

from tests.helpers import make_user
from webapp import db
from webapp.models import Item, LoginSession, MediaFile, Task, User


def make_account(app, email):
    """An account with an item, a file, a task and a login; their ids."""
    user = make_user(app, email=email)
    with app.app_context():
        item = Item(user_id=user.id, title="talk.mp4")
        item.files = [MediaFile(role="original", name="original.mp4", size=10)]
        item.tasks = [Task(kind="silence", queue="media")]
        login = LoginSession(token_hash=email, user_id=user.id)
        db.session.add_all([item, login])
        db.session.commit()
        return {User: user.id, MediaFile: item.files[0].id, Task: item.tasks[0].id, LoginSession: login.id}


def test_ids_of_deleted_rows_are_never_given_again(app):
    make_account(app, "ada@example.com")
    deleted = make_account(app, "grace@example.com")
    with app.app_context():
        db.session.delete(db.session.get(User, deleted[User]))  # its items, files, tasks and logins too
        db.session.commit()

    new = make_account(app, "mallory@example.com")

    for table, old_id in deleted.items():
        assert new[table] > old_id, table.__name__
