"""Run an exported question's server.py as PrairieLearn's zygote does, without PrairieLearn.

Reads {"course": DIR, "question": QID, "calls": [{"fcn": "generate", "data": {...}}, ...]} on
standard input (a call may name another "question") and writes {"results": [data after each
call], "modules": [the gradekit package each call ran], "gradekit": the last one, "python": ...,
"numpy": ...} on standard output. Like the zygote (apps/prairielearn/
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
    server_files = os.path.join(course, "serverFilesCourse")
    saved_path = list(sys.path)
    results, modules = [], []
    for call in request["calls"]:
        question = os.path.join(course, "questions", call.get("question", request["question"]))
        sys.path[:] = [question, server_files, *saved_path]
        os.chdir(question)
        module: dict = {}
        with open("server.py", encoding="utf-8") as f:
            exec(compile(f.read(), os.path.join(question, "server.py"), "exec"), module)  # noqa: S102 - as the zygote
        data = json.loads(json.dumps(call["data"]))
        data["options"] = {"question_path": question, "server_files_course_path": server_files,
                           "client_files_question_path": os.path.join(question, "clientFilesQuestion")}
        random.seed(data["variant_seed"])
        np.random.seed(data["variant_seed"] % 2**32)
        module[call["fcn"]](data)
        del data["options"]
        results.append(json.loads(json.dumps(data, allow_nan=False)))
        modules.append(sys.modules["gradekit"].__file__)
    json.dump({"results": results, "modules": modules, "gradekit": modules[-1], "python": sys.version.split()[0],
               "numpy": np.__version__}, sys.stdout)


if __name__ == "__main__":
    main()
