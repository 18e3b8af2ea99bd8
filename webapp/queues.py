"""The RQ queues, and how each is named to a person waiting in it. Standard library only: run.py
loads this file by path to start a worker per queue without loading the app."""

# A kind (webapp/kinds/) names the queue it runs on; the maintenance job runs on "media".
QUEUES = ("media", "transcribe", "mail")
# How a queue is named to the person waiting in it: "2nd in line for transcription".
QUEUE_NOUNS = {"media": "processing", "transcribe": "transcription", "mail": "sending"}
