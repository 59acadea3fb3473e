"""Regenerate the README gallery: pictures of every pretrained zoo entry.

Each PNG is made by running the ``vaezoo sample`` / ``vaezoo plot`` command
line it is captioned with (through ``vaezoo.cli.main``, in this process), so a
reader can reproduce any picture with the command under it. The pictures go to
``docs/gallery/<entry>_<kind>.png`` and their captions to ``docs/gallery.md``
(``--markdown``), one section per entry: the sections of the entries drawn are
replaced, the others kept. The script prints how long each picture took.

Which pictures an entry gets:
  samples, reconstructions, interpolation (slerp), traversal and latents for
  every generative entry (a config and weights); manifold for 2-D latents;
  conditional for conditional models; curves when the entry ships a training
  history; samples, reconstructions and code usage for a discrete latent
  (VQ-VAE). Entries of one .keras file (a classifier recipe such as M1M2) have
  no pictures here.

Data: the test split of the data set each entry's config names (via
``vaezoo.data.load_arrays``), raw uint8 images that each model preprocesses as
in training (e.g. the static binarization of its config); the images shown are
chosen with ``--seed 0``.

Timing: for each entry the script also runs ``vaezoo sample NAME -n 64 -o ...``
in a fresh Python process (``python -m vaezoo.cli``) and prints its wall-clock
and CPU time (the issue asks for under 15 s; most of it is importing
TensorFlow). ``--no-timing`` skips that.

Usage:
  python tools/gallery.py                    # every pretrained entry
  python tools/gallery.py mlp_vae_fashion_mnist --out docs/gallery
"""

import argparse
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


def commands(name, model, has_history, out_dir):
    """[(kind, argv)] of the pictures of one entry."""
    from vaezoo.plot import discrete_latent

    def out(kind):
        return str(out_dir / f"{name}_{kind}.png")

    todo = [("samples", ["sample", name, "-n", "64", "-o", out("samples")]),
            ("reconstructions", ["plot", name, "--kind", "reconstructions", "-n", "12",
                                 "-o", out("reconstructions")])]
    if discrete_latent(model):   # a grid of codes: its usage instead of latent-space pictures
        return todo + [("codes", ["plot", name, "--kind", "codes", "-o", out("codes")])]
    todo += [("interpolation", ["plot", name, "--kind", "interpolation", "-n", "3",
                                "--method", "slerp", "-o", out("interpolation")]),
             ("traversal", ["plot", name, "--kind", "traversal", "-n", "8",
                            "-o", out("traversal")]),
             ("latents", ["plot", name, "--kind", "latents", "-o", out("latents")])]
    if model.latent_dim == 2:
        todo.append(("manifold", ["plot", name, "--kind", "manifold", "-o", out("manifold")]))
    if getattr(model, "is_conditional", False) and getattr(model, "num_classes", None):
        todo.append(("conditional", ["plot", name, "--kind", "conditional",
                                     "-o", out("conditional")]))
    if has_history:
        todo.append(("curves", ["plot", name, "--kind", "curves", "-o", out("curves")]))
    return todo


HEADER = ("# Gallery\n\nPictures of every generative pretrained entry, made by `python tools/gallery.py`; "
          "the command under each picture redraws it.\n")


def markdown(name, description, pictures, out_dir, page_dir=REPO):
    """One entry's section: its description, then each picture with its command."""
    rel = os.path.relpath(out_dir, page_dir)
    lines = [f"## {name}", "", description, ""]
    for kind, argv in pictures:
        lines += [f"![{name} {kind}]({rel}/{name}_{kind}.png)", "",
                  f"<sub>`vaezoo {' '.join(argv)}`</sub>", ""]
    return "\n".join(lines)


def page_sections(page):
    """``{entry name: its section}`` of a gallery page (each section from its ``## name``)."""
    return {block.split("\n", 1)[0][3:].strip(): block.rstrip() + "\n"
            for block in re.split(r"^(?=## )", page, flags=re.M) if block.startswith("## ")}


def gallery_page(old, sections):
    """The gallery page: ``old``'s sections, with those of ``sections`` (``{name: text}``)
    replaced or added, in name order."""
    kept = page_sections(old)
    kept.update({name: text.rstrip() + "\n" for name, text in sections.items()})
    return HEADER + "".join(f"\n{kept[name]}" for name in sorted(kept))


def time_fresh_sample(name, out_dir):
    """(wall seconds, CPU seconds, exit status) of `vaezoo sample` in a new process."""
    import resource
    import subprocess
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "vaezoo.cli", "sample", name, "-n", "64",
                             "-o", str(out_dir / f".{name}_timing.png")],
                            capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    (out_dir / f".{name}_timing.png").unlink(missing_ok=True)
    if result.returncode:
        print(result.stderr[-2000:], file=sys.stderr)
    return wall, cpu, result.returncode


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("entries", nargs="*", help="pretrained entries (default: all)")
    parser.add_argument("--out", default=str(REPO / "docs" / "gallery"),
                        help="output directory (default docs/gallery)")
    parser.add_argument("--markdown", default=str(REPO / "docs" / "gallery.md"),
                        help="the gallery page to update (default docs/gallery.md)")
    parser.add_argument("--no-timing", action="store_true",
                        help="skip timing `vaezoo sample` in a fresh process")
    args = parser.parse_args(argv)

    from vaezoo import cli, io, zoo
    models = zoo.list_models()
    pretrained = [n for n, directory in zoo.pretrained_entries().items()
                  if (directory / io.CONFIG_FILE).is_file()]
    names = args.entries or pretrained
    missing = [n for n in names if n not in pretrained]
    if missing:
        parser.error(f"not generative pretrained entries: {missing}; they are: "
                     f"{pretrained or 'none'}")
    if not names:
        print("no pretrained entries yet: nothing to draw (train some with "
              "tools/make_pretrained.py first)", file=sys.stderr)
        return 1
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    sections, failures = {}, []
    for name in names:
        model = zoo.load(name)
        try:
            cli._training_history(name)
            has_history = True
        except ValueError:
            has_history = False
        done = []
        for kind, command in commands(name, model, has_history, out_dir):
            started = time.perf_counter()
            status = cli.main(command)
            took = time.perf_counter() - started
            print(f"  {name} {kind}: exit {status}, {took:.1f} s", file=sys.stderr)
            if status == 0:
                done.append((kind, [a if not a.startswith(str(out_dir)) else
                                    f"{kind}.png" for a in command]))
            else:
                failures.append((name, kind))
        sections[name] = markdown(name, models[name].get("description", ""), done, out_dir,
                                  Path(args.markdown).parent)
        if not args.no_timing:
            wall, cpu, status = time_fresh_sample(name, out_dir)
            load = os.getloadavg()[0]
            print(f"  {name}: `vaezoo sample {name} -n 64` in a fresh process: exit {status}, "
                  f"{wall:.1f} s wall, {cpu:.1f} s CPU (load average {load:.1f} on "
                  f"{os.cpu_count()} CPUs)", file=sys.stderr)
            if status:
                failures.append((name, "fresh-process sample"))
    page = Path(args.markdown)
    page.write_text(gallery_page(page.read_text() if page.exists() else "", sections))
    print(f"wrote {page} ({len(sections)} entries redrawn)", file=sys.stderr)
    if failures:
        print(f"failed: {failures}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
