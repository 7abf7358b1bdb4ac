"""`remove_older_than` clears what a killed download left in a cache
(`.NAME.*.partial` files and directories) and nothing else: not a younger
one, which may be another process's download in progress, nor other files."""

import os
import time

from keras_hvae.utils.atomic_files import remove_older_than


def test_only_old_matching_leftovers_are_removed(tmp_path):
    old_dir = tmp_path / ".mnist.gz.abc.partial"
    old_dir.mkdir()
    (old_dir / "part").write_bytes(b"x")
    old_file = tmp_path / ".mnist.gz.def.partial"
    old_file.write_bytes(b"x")
    young = tmp_path / ".mnist.gz.ghi.partial"
    young.mkdir()
    other = tmp_path / "mnist.gz"
    other.write_bytes(b"x")
    an_hour_ago = time.time() - 3601
    for path in (old_dir, old_file, other):
        os.utime(path, (an_hour_ago, an_hour_ago))
    assert remove_older_than(tmp_path, ".mnist.gz.*.partial", 3600) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".mnist.gz.ghi.partial", "mnist.gz"]
    assert remove_older_than(tmp_path / "missing", "*", 0) == 0
