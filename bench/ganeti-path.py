#!/usr/bin/python3
"""Ganeti 3.0's own hotplug path, driven directly, for bench/ganeti.sh.

Calls the real hv_kvm.KVMHypervisor().HotAddDevice/HotDelDevice (what
ganeti-noded runs for `gnt-instance modify --hotplug`, via
backend.HotplugDevice) for a disk and a NIC of an instance whose QEMU,
QMP/HMP sockets and runtime file are where Ganeti looks for them
(/var/run/ganeti/kvm-hypervisor/ctrl/NAME.qmp, NAME.monitor,
conf/NAME.runtime; bench/ganeti.sh puts symlinks to the test QEMU's
sockets there). Nothing of Ganeti's is changed: the only wrappers record
when device_del is sent (for the guest's DEVICE_DELETED latency) and which
tap fds Ganeti opened (closed after the call, as noded's forked request
child would at exit); `trace` adds more, and is not timed.

Usage (run as root, inside the benchmark's network namespace; NAME is the
instance name):
  ganeti-path.py paths NAME            where Ganeti keeps what (key=value)
  ganeti-path.py setup NAME QEMU-PID   Ganeti's dirs, its runtime file
  ganeti-path.py one-op NAME disk|nic add|rm DELTIMES
  ganeti-path.py inproc NAME ROUNDS OUTDIR DELTIMES
  ganeti-path.py check NAME disk|nic present|absent
  ganeti-path.py final NAME            nothing of the bench left in QEMU
  ganeti-path.py trace NAME            one add+rm per kind, step by step
  ganeti-path.py watch QMP-SOCK EVENTS DEVICE_DELETED events, as they come
  ganeti-path.py latency DELTIMES EVENTS OUTDIR
Times are microseconds, one figure a line.
"""

import os
import sys
import time

sys.path.insert(0, os.environ.get("GANETI_PYTHON_DIR", "/usr/share/ganeti/3.0"))

# pylint: disable=C0413
from ganeti import constants, errors, objects, pathutils, serializer, utils
from ganeti.hypervisor import hv_kvm
from ganeti.hypervisor.hv_kvm import monitor

INSTANCE_UUID = "6b1e3f0a-5c2d-4e8f-9a01-000000000001"
NODE_UUID = "6b1e3f0a-5c2d-4e8f-9a01-0000000000aa"
DISK_UUID = "6b1e3f0a-5c2d-4e8f-9a01-0000000000d1"
NIC_UUID = "6b1e3f0a-5c2d-4e8f-9a01-0000000000e1"
MAC = "aa:00:00:4b:48:01"
BRIDGE = "br0"           # bench/lib.sh's namespace bridge
KVM_PATH = "/usr/bin/qemu-system-x86_64"
DISK_IDX = 0            # the new disk's index (seq), and its link NAME:0
NIC_IDX = 0             # the new NIC's index (seq)
KIND = {"disk": constants.HOTPLUG_TARGET_DISK,
        "nic": constants.HOTPLUG_TARGET_NIC}
HV = hv_kvm.KVMHypervisor


class BenchError(Exception):
  pass


def die(msg):
  sys.stderr.write("ganeti-path: %s\n" % msg)
  sys.exit(1)


# ---- what records device_del and the tap fds (always on; a few us) ----

DELETES = []    # (devid, wall-clock us) of every device_del sent
TAP_FDS = []    # fds of taps Ganeti opened in this process

_execute = monitor.QmpConnection.Execute


def _recording_execute(self, command, arguments=None):
  if command == "device_del":
    DELETES.append((arguments["id"], time.time_ns() // 1000))
  return _execute(self, command, arguments)


monitor.QmpConnection.Execute = _recording_execute

_open_tap = hv_kvm.OpenTap


def _recording_open_tap(*args, **kwargs):
  ret = _open_tap(*args, **kwargs)
  TAP_FDS.extend(ret[1] + ret[2])
  return ret


hv_kvm.OpenTap = _recording_open_tap


def close_taps():
  """Ganeti leaves its copies of the tap fds open (noded's request child
  exits right after); keep them from piling up in one process."""
  while TAP_FDS:
    os.close(TAP_FDS.pop())


# ---- the instance and its devices, as noded receives them ----

def hvparams():
  """The instance's filled hvparams (what rpc's _InstDict sends): the
  cluster defaults with what ganeti-facts.md's cluster init sets."""
  hvp = dict(constants.HVC_DEFAULTS[constants.HT_KVM])
  hvp.update({
    constants.HV_KVM_PATH: KVM_PATH,
    constants.HV_KVM_FLAG: constants.HT_KVM_DISABLED,
    constants.HV_KERNEL_ARGS: "console=ttyS0 quiet panic=-1",
    constants.HV_SERIAL_CONSOLE: True,
    constants.HV_KVM_USE_CHROOT: False,
    constants.HV_SECURITY_MODEL: constants.HT_SM_NONE,
    constants.HV_VNC_BIND_ADDRESS: "",
    })
  return hvp


def make_instance(name):
  return objects.Instance(
    name=name, uuid=INSTANCE_UUID, primary_node=NODE_UUID, os="noop",
    hypervisor=constants.HT_KVM, hvparams=hvparams(),
    beparams={constants.BE_MAXMEM: 128, constants.BE_MINMEM: 128,
              constants.BE_VCPUS: 1},
    osparams={}, osparams_private={}, nics=[], disks=[],
    disk_template=constants.DT_FILE, admin_state=constants.ADMINST_UP,
    disks_active=True, serial_no=1, ctime=0, mtime=0, tags=[])


def disk_link(name):
  """The link BlockdevAssemble makes (backend._SymlinkBlockDev)."""
  return utils.PathJoin(pathutils.DISK_LINKS_DIR, "%s%s%d" %
                        (name, constants.DISK_SEPARATOR, DISK_IDX))


def make_disk(name):
  link = disk_link(name)
  path = os.readlink(link) if os.path.islink(link) else link
  # a file disk as the master sends it: params annotated (file: none)
  return objects.Disk(
    uuid=DISK_UUID, name=None, dev_type=constants.DT_FILE,
    logical_id=(constants.FD_LOOP, path), children=[], nodes=[NODE_UUID],
    iv_name="disk/%d" % DISK_IDX, size=64, mode=constants.DISK_RDWR,
    params=dict(constants.DISK_DT_DEFAULTS[constants.DT_FILE]),
    spindles=None, serial_no=1, ctime=0, mtime=0)


def make_nic():
  return objects.NIC(
    uuid=NIC_UUID, name=None, mac=MAC, ip=None, network=None, netinfo=None,
    nicparams={constants.NIC_MODE: constants.NIC_MODE_BRIDGED,
               constants.NIC_LINK: BRIDGE, constants.NIC_VLAN: ""})


def op_args(name, kind, action):
  """(dev_type, device, extra, seq) as cmdlib passes them: a disk add gets
  BlockdevAssemble's (link_name, uri), uri None for a kernelspace file
  disk; a removal and a NIC get None."""
  if kind == "disk":
    extra = (disk_link(name), None) if action == "add" else None
    return KIND[kind], make_disk(name), extra, DISK_IDX
  return KIND[kind], make_nic(), None, NIC_IDX


def kvm_devid(kind):
  uuid = DISK_UUID if kind == "disk" else NIC_UUID
  return "%s-%s" % (KIND[kind].lower(), uuid.rsplit("-", 2)[0])


def run_ganeti(hyper, fn_name, instance, kind, action):
  """Calls hyper.FN_NAME as backend.HotplugDevice does; the elapsed us.
  Fails loudly if Ganeti raises."""
  dev_type, device, extra, seq = op_args(instance.name, kind, action)
  fn = getattr(hyper, fn_name)
  try:
    if fn_name == "VerifyHotplugSupport":
      t0 = time.perf_counter_ns()
      fn(instance, constants.HOTPLUG_ACTION_ADD if action == "add"
         else constants.HOTPLUG_ACTION_REMOVE, dev_type)
    else:
      t0 = time.perf_counter_ns()
      fn(instance, dev_type, device, extra, seq)
    t1 = time.perf_counter_ns()
  except Exception as err:  # pylint: disable=W0703
    import traceback
    traceback.print_exc()
    die("Ganeti's %s (%s %s) raised %s: %s" %
        (fn_name, kind, action, type(err).__name__, err))
  return (t1 - t0) // 1000


def ganeti_op(instance, kind, action, verify=False):
  """One hotplug as noded does it: a new KVMHypervisor (GetHypervisor),
  optionally VerifyHotplugSupport first; (verify us, call us)."""
  hyper = HV()
  v = None
  if verify:
    v = run_ganeti(hyper, "VerifyHotplugSupport", instance, kind, action)
  fn = "HotAddDevice" if action == "add" else "HotDelDevice"
  return v, run_ganeti(hyper, fn, instance, kind, action)


def save_deletes(path, mode, kind):
  with open(path, "a") as f:
    for devid, us in DELETES:
      f.write("%s %s %s %d\n" % (mode, kind, devid, us))
  del DELETES[:]


# ---- looking at QEMU (Ganeti's own QMP client, outside any timing) ----

def qmp(name):
  return monitor.QmpConnection(HV._InstanceQmpMonitor(name))  # pylint: disable=W0212


def device_slot(q, devid):
  for dev in q.Execute("query-pci")[0]["devices"]:
    if dev["qdev_id"] == devid:
      return dev["slot"]
  return None


def has_drive(q, devid):
  return any(b["device"] == devid for b in q.Execute("query-block"))


def check(name, kind, want):
  """QEMU (query-pci, query-block, query-fdsets) agrees with what Ganeti
  said it did; raises BenchError if not. The slot for a present device."""
  devid = kvm_devid(kind)
  with qmp(name) as q:
    slot = device_slot(q, devid)
    drive = has_drive(q, devid) if kind == "disk" else False
    fdsets = q.Execute("query-fdsets")
    netdev = devid in q.Execute("human-monitor-command",
                                {"command-line": "info network"})
  runtime = HV()._LoadKVMRuntime(make_instance(name))  # pylint: disable=W0212
  idx = 3 if kind == "disk" else 1
  recorded = [e[0] if kind == "disk" else e for e in runtime[idx]]
  recorded = [d for d in recorded if d.uuid in (DISK_UUID, NIC_UUID)]
  if want == "present":
    if slot is None:
      raise BenchError("after Ganeti's %s add, QEMU has no %s on pci.0" %
                       (kind, devid))
    if kind == "disk" and not drive:
      raise BenchError("after Ganeti's disk add, QEMU has no drive %s" % devid)
    if kind == "nic" and not netdev:
      raise BenchError("after Ganeti's nic add, QEMU has no netdev %s" % devid)
    if len(recorded) != 1 or int(recorded[0].hvinfo["addr"], 16) != slot:
      raise BenchError("the runtime file does not record %s at slot %d" %
                       (devid, slot))
  else:
    if slot is not None or drive or netdev:
      raise BenchError("after Ganeti's %s removal QEMU still has %s "
                       "(pci slot %s, drive %s, netdev %s)" %
                       (kind, devid, slot, drive, netdev))
    if recorded:
      raise BenchError("the runtime file still records %s" % devid)
  if kind == "nic":
    check_tap(name, want)
  # Ganeti's remove-fd empties the set at once; QEMU drops the set itself
  # once the drive made from it is gone
  if (want == "absent" and fdsets) or any(s["fds"] for s in fdsets):
    raise BenchError("QEMU holds fd sets with the %s %s: %s" %
                     (kind, want, fdsets))
  return slot


def taps():
  """The tun/tap devices of this network namespace."""
  return [d for d in os.listdir("/sys/class/net")
          if os.path.exists("/sys/class/net/%s/tun_flags" % d)]


def check_tap(name, want):
  """Ganeti's NIC file names a tap that kvm-ifup put up on the bridge (the
  script ignores failures of its `ip` commands); after a removal the file
  and all taps are gone."""
  nic_file = HV._InstanceNICFile(name, NIC_IDX)  # pylint: disable=W0212
  if want == "absent":
    if os.path.exists(nic_file) or taps():
      raise BenchError("after Ganeti's nic removal: NIC file %s, taps %s" %
                       (os.path.exists(nic_file), taps()))
    return
  tap = utils.ReadOneLineFile(nic_file)
  master = "/sys/class/net/%s/master" % tap
  bridge = os.path.basename(os.readlink(master)) if os.path.islink(master) \
    else None
  with open("/sys/class/net/%s/flags" % tap) as f:
    up = int(f.read(), 16) & 1
  if bridge != BRIDGE or not up or taps() != [tap]:
    raise BenchError("after Ganeti's nic add: tap %s on %s, up %s; taps %s" %
                     (tap, bridge, bool(up), taps()))


# ---- commands ----

def cmd_paths(name):
  kvm_dirs = " ".join(HV._DIRS)  # pylint: disable=W0212
  print("RUN_DIR=%s" % pathutils.RUN_DIR)
  print("KVM_DIRS=%s" % kvm_dirs)
  print("DISK_LINKS_DIR=%s" % pathutils.DISK_LINKS_DIR)
  print("NIC_DIR=%s" % HV._InstanceNICDir(name))  # pylint: disable=W0212
  print("QMP=%s" % HV._InstanceQmpMonitor(name))  # pylint: disable=W0212
  print("MONITOR=%s" % HV._InstanceMonitor(name))  # pylint: disable=W0212
  print("KVMD=%s" % HV._InstanceKvmdMonitor(name))  # pylint: disable=W0212
  print("RUNTIME=%s" % HV._InstanceKVMRuntime(name))  # pylint: disable=W0212
  print("DISK_LINK=%s" % disk_link(name))


def cmd_setup(name, qemu_pid):
  """What Ganeti has made by the time an instance runs: its run dirs
  (daemon-util's /var/run/ganeti, KVMHypervisor's own, the disk links',
  the instance's NIC dir) and the runtime file, written by
  _SaveKVMRuntime with the QEMU's real command line and no devices yet."""
  utils.EnsureDirs([(pathutils.RUN_DIR, constants.RUN_DIRS_MODE)])
  hyper = HV()
  utils.EnsureDirs([(pathutils.DISK_LINKS_DIR, constants.RUN_DIRS_MODE),
                    (HV._InstanceNICDir(name),  # pylint: disable=W0212
                     constants.SECURE_DIR_MODE)])
  with open("/proc/%d/cmdline" % int(qemu_pid), "rb") as f:
    kvm_cmd = [a.decode() for a in f.read().split(b"\0") if a]
  instance = make_instance(name)
  hyper._SaveKVMRuntime(instance,  # pylint: disable=W0212
                        (kvm_cmd, [], instance.hvparams, []))


def cmd_one_op(name, kind, action, deltimes):
  """One hotplug in a process of its own (timed from the shell)."""
  ganeti_op(make_instance(name), kind, action)
  if DELETES:
    save_deletes(deltimes, "process", kind)


def cmd_inproc(name, rounds, outdir, deltimes):
  """ROUNDS of disk add, disk rm, nic add, nic rm in this one process,
  each a fresh KVMHypervisor after VerifyHotplugSupport, as noded runs
  them; only the HotAddDevice/HotDelDevice call is timed (Verify on its
  own). QEMU is checked after each call, untimed."""
  instance = make_instance(name)
  files = {}
  for kind in ("disk", "nic"):
    for action in ("add", "rm"):
      files[kind, action] = open(os.path.join(
        outdir, "ganeti.%s.%s.inproc" % (kind, action)), "w")
      files[kind, action, "v"] = open(os.path.join(
        outdir, "ganeti.%s.%s.verify.inproc" % (kind, action)), "w")
  try:
    for _ in range(rounds):
      for kind in ("disk", "nic"):
        for action in ("add", "rm"):
          v, us = ganeti_op(instance, kind, action, verify=True)
          close_taps()
          files[kind, action].write("%d\n" % us)
          files[kind, action, "v"].write("%d\n" % v)
          save_deletes(deltimes, "inproc", kind)
          check(name, kind, "present" if action == "add" else "absent")
  finally:
    for f in files.values():
      f.close()


def cmd_final(name):
  """Nothing of the benchmark's devices left: in QEMU, in the runtime
  file, in Ganeti's NIC dir."""
  for kind in ("disk", "nic"):
    check(name, kind, "absent")
  runtime = HV()._LoadKVMRuntime(make_instance(name))  # pylint: disable=W0212
  if runtime[1] or runtime[3]:
    raise BenchError("the runtime file still has devices: %s" %
                     serializer.Dump(runtime[1]))
  left = os.listdir(HV._InstanceNICDir(name))  # pylint: disable=W0212
  if left:
    raise BenchError("Ganeti's NIC files left: %s" % left)


def cmd_trace(name):
  """One add and removal per kind with every QMP connection, QMP command,
  external command and sleep of Ganeti's printed with its time."""
  events = []
  t_start = [0]

  def now():
    return (time.perf_counter_ns() - t_start[0]) / 1e6

  def wrap(owner, attr, describe):
    orig = getattr(owner, attr)

    def wrapper(*args, **kwargs):
      t0 = now()
      try:
        return orig(*args, **kwargs)
      finally:
        events.append((t0, now() - t0, describe(*args, **kwargs)))
    setattr(owner, attr, wrapper)

  wrap(monitor.MonitorSocket, "_connect",
       lambda self: "connect %s" % os.path.basename(self.monitor_filename))
  wrap(monitor.QmpConnection, "Execute",
       lambda self, c, a=None: "  QMP %s %s" %
       (c, serializer.DumpJson(a).decode() if a else ""))
  wrap(monitor.QmpConnection, "_close", lambda self: "close")
  wrap(utils, "RunCmd", lambda cmd, **kw: "  run %s" %
       (cmd if isinstance(cmd, str) else " ".join(
         c.decode() if isinstance(c, bytes) else c for c in cmd)))
  wrap(hv_kvm.time, "sleep", lambda s: "  sleep %s" % s)
  wrap(utils, "WriteFile", lambda f, **kw: "  write %s" % f)
  wrap(utils, "ReadFile", lambda f, **kw: "  read %s" % f)
  wrap(utils, "RemoveFile", lambda f: "  remove %s" % f)
  wrap(hv_kvm, "OpenTap", lambda *a, **kw: "  open /dev/net/tun")
  instance = make_instance(name)
  for kind in ("disk", "nic"):
    for action in ("add", "rm"):
      del events[:]
      t_start[0] = time.perf_counter_ns()
      _, us = ganeti_op(instance, kind, action)
      close_taps()
      del DELETES[:]
      fn = "HotAddDevice" if action == "add" else "HotDelDevice"
      print("%s(%s): %.1f ms" % (fn, kind, us / 1000))
      conns = sum(1 for e in events if e[2].startswith("connect"))
      for t0, dt, what in sorted(events):
        what = " ".join(what.split()) if what.startswith("  run") else \
          what.rstrip()
        print("  %8.1f ms %+8.1f ms  %s" % (t0, dt, what[:160]))
      print("  QMP connections: %d; QMP commands: %d; external commands: %d;"
            " sleeps: %d" %
            (conns, sum(1 for e in events if "QMP " in e[2]),
             sum(1 for e in events if " run " in e[2]),
             sum(1 for e in events if " sleep " in e[2])))
      want = "present" if action == "add" else "absent"
      slot = check(name, kind, want)
      print("  QEMU after it (query-pci, query-block, info network, "
            "query-fdsets): %s %s" % (kvm_devid(kind), "gone" if slot is None
                                      else "on pci.0 slot %d" % slot))


def cmd_watch(sock_path, out):
  """DEVICE_DELETED events of a second QMP monitor (Ganeti gives kvmd one
  of its own, ctrl/NAME.kvmd), "QEMU-timestamp-us device" a line."""
  import json
  import socket
  s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
  s.connect(sock_path)
  f = s.makefile("rb")
  f.readline()
  s.sendall(b'{"execute": "qmp_capabilities"}\n')
  with open(out, "a", buffering=1) as o:
    o.write("# ready\n")
    for line in f:
      m = json.loads(line)
      if m.get("event") == "DEVICE_DELETED" and "device" in m["data"]:
        ts = m["timestamp"]
        o.write("%d %s\n" % (ts["seconds"] * 1000000 + ts["microseconds"],
                             m["data"]["device"]))


def cmd_latency(deltimes, events_file, outdir):
  """For each device_del sent, the guest's DEVICE_DELETED after it."""
  events = []
  with open(events_file) as f:
    for line in f:
      if not line.startswith("#"):
        us, dev = line.split()
        events.append([int(us), dev, False])
  out = {}
  missing = 0
  with open(deltimes) as f:
    for line in f:
      mode, kind, devid, us = line.split()
      us = int(us)
      for ev in events:
        if not ev[2] and ev[1] == devid and ev[0] >= us:
          ev[2] = True
          suffix = ".inproc" if mode == "inproc" else ""
          out.setdefault("ganeti.%s.rm.guest%s" % (kind, suffix),
                         []).append(ev[0] - us)
          break
      else:
        missing += 1
  for fname, values in out.items():
    with open(os.path.join(outdir, fname), "w") as f:
      f.write("".join("%d\n" % v for v in values))
  if missing:
    sys.stderr.write("ganeti-path: %d removals without a DEVICE_DELETED "
                     "event\n" % missing)


def main(argv):
  cmds = {
    "paths": (cmd_paths, 1), "setup": (cmd_setup, 2),
    "one-op": (cmd_one_op, 4), "inproc": (cmd_inproc, 4),
    "check": (check, 3), "final": (cmd_final, 1), "trace": (cmd_trace, 1),
    "watch": (cmd_watch, 2), "latency": (cmd_latency, 3),
    }
  if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 != cmds[argv[1]][1]:
    die("usage: see the top of %s" % argv[0])
  fn, _ = cmds[argv[1]]
  args = argv[2:]
  if argv[1] in ("one-op", "check") and args[1] not in KIND:
    die("unknown kind %s" % args[1])
  if argv[1] == "one-op" and args[2] not in ("add", "rm"):
    die("unknown action %s" % args[2])
  if argv[1] == "check" and args[2] not in ("present", "absent"):
    die("want present or absent, not %s" % args[2])
  if argv[1] == "inproc":
    args[1] = int(args[1])
  try:
    fn(*args)
  except BenchError as err:
    die(str(err))
  except Exception as err:  # pylint: disable=W0703
    import traceback
    traceback.print_exc()
    die("%s failed: %s: %s" % (argv[1], type(err).__name__, err))


if __name__ == "__main__":
  main(sys.argv)
