"""Run an exported question's server.py as PrairieLearn's zygote does, without PrairieLearn.

Reads {"course": DIR, "question": QID, "calls": [{"fcn": "generate", "data": {...}}, ...]} on
standard input and writes {"results": [data after each call], "gradekit": file of the gradekit
that ran, "python": ..., "numpy": ...} on standard output. Like the zygote (apps/prairielearn/
python/zygote.py and code-caller-native.ts): the working directory is the question's folder,
sys.path starts with it and then serverFilesCourse/, server.py is exec'd (no __file__), random
and NumPy are seeded with the variant seed, and data is JSON in and out. Run it in its own
process: server.py imports the bundled gradekit, which must not meet the test's own.
"""

import json
import os
import random
import sys

import numpy as np


def main() -> None:
    request = json.load(sys.stdin)
    course = os.path.abspath(request["course"])
    question = os.path.join(course, "questions", request["question"])
    server_files = os.path.join(course, "serverFilesCourse")
    sys.path.insert(0, server_files)
    sys.path.insert(0, question)
    os.chdir(question)
    module: dict = {}
    with open("server.py", encoding="utf-8") as f:
        exec(compile(f.read(), os.path.join(question, "server.py"), "exec"), module)  # noqa: S102 - as the zygote
    results = []
    for call in request["calls"]:
        data = json.loads(json.dumps(call["data"]))
        data["options"] = {"question_path": question, "server_files_course_path": server_files,
                           "client_files_question_path": os.path.join(question, "clientFilesQuestion")}
        random.seed(data["variant_seed"])
        np.random.seed(data["variant_seed"] % 2**32)
        module[call["fcn"]](data)
        del data["options"]
        results.append(json.loads(json.dumps(data, allow_nan=False)))
    import gradekit

    json.dump({"results": results, "gradekit": gradekit.__file__, "python": sys.version.split()[0],
               "numpy": np.__version__}, sys.stdout)


if __name__ == "__main__":
    main()
