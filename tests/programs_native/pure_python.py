"""Only Python objects: native tracking must not change what is counted."""

KEPT = []


def work(n: int) -> None:
    for i in range(n):
        KEPT.append([str(i) * 3, {"k": i}, (i, i + 1)])  # PY-SITE
    text = ",".join(str(x) for x in range(n))
    KEPT.append(text.split(","))  # PY-SITE-2


work(2000)
