"""gearman3 (pip) against a job server: worker thread + client, a batch of
foreground jobs, a background job and a status query. Prints `ok HANDLE`.
Usage: py_round_trip.py host:port

gearman3 0.2.1 is broken on Python >= 3.9 (array.array.fromstring was
removed): the array module gearman.connection uses is swapped for one whose
arrays have fromstring (slices keep the subclass). The installed package is
not touched. Its worker also compares the function names it gets (bytes)
with the registered ones, so functions are registered as bytes."""
import array, sys, threading, types
import gearman
import gearman.connection as gconn

class Arr(array.array):
    """array.array with the fromstring() that gearman3 calls (gone in 3.9)."""
    def fromstring(self, s):
        self.frombytes(s)
    def __getitem__(self, k):
        r = array.array.__getitem__(self, k)
        return Arr(self.typecode, r) if isinstance(k, slice) else r

gconn.array = types.SimpleNamespace(array=Arr)

server = sys.argv[1]

def worker_main():
    w = gearman.GearmanWorker([server])
    def rev(worker, job):
        return job.data[::-1]
    w.register_task(b"pyrev", rev)
    try:
        w.work(poll_timeout=0.2)
    except Exception as e:
        import traceback; traceback.print_exc()

t = threading.Thread(target=worker_main, daemon=True)
t.start()
c = gearman.GearmanClient([server])
req = c.submit_job("pyrev", b"hello", poll_timeout=10)
assert req.complete, req.state
assert req.result == b"olleh", req.result
reqs = c.submit_multiple_jobs([{"task": "pyrev", "data": ("x%d" % i).encode()} for i in range(20)], poll_timeout=10)
assert all(r.complete for r in reqs)
assert sorted(r.result for r in reqs) == sorted(("x%d" % i).encode()[::-1] for i in range(20))
# A background job for a function nobody does; GET_STATUS round trip.
# (gearman3 compares the known/running flags as str on Python 3, so they
# always read False: the caller checks the job with `show jobs` instead.)
bg = c.submit_job("pynobody", b"bg", background=True, wait_until_complete=False)
st = c.get_job_status(bg, poll_timeout=5)
assert st.status["handle"] == bg.job.handle, st.status
print("ok", bg.job.handle.decode())
