"""The Python half of scripts/demo.sh: claim open jobs from the job board
that a Node process published in the named arena "jobboard", do them, and
record the results, all in place in shared memory."""
import os
import sys

import sharena

name = sys.argv[1] if len(sys.argv) > 1 else "worker"


def say(text):
    sys.stdout.write(f"python: {name} {text}\n")  # one write: no interleaving
    sys.stdout.flush()


with sharena.open("jobboard") as arena:
    jobs, stats = arena.map("jobs"), arena.map("stats")
    say(f"sees {len(jobs)} jobs published by {stats['published_by']}")
    for key in sorted(jobs, key=lambda k: -jobs[k]["priority"]):
        job = jobs[key]
        with job.locked():                      # claim it atomically
            if job["state"] != "open":
                continue
            job["state"], job["worker"] = "running", f"{name} (pid {os.getpid()})"
        job["result"] = f"{job['title']}: ok"
        job["state"] = "done"
        stats.add("done")                       # an atomic counter
        say(f"did {key} ({job['title']})")
