"""Stand-ins for the kernel parts and tools this machine lacks.

Everything in this package exists *only* for tests and local clusters.
Each module stands in for one real component that cannot run on the
machines this project is built and tested on, at the process boundary
(the driver code above it is the real code, issuing the real commands):

``lvm``
    lvm2 together with device-mapper: answers ``lvs``/``vgs``/``pvs``,
    ``lvcreate``, ``lvremove``... in lvm2's recorded output format and
    backs every logical volume with a sparse file, so that OS scripts and
    hypervisors write real bytes.  Real lvm2's metadata commands are
    tested on loop devices separately (``test/unit/test_storage_lvm_real.py``).

``xl``
    Xen's xl toolstack together with the hypervisor: a stateful program
    (``python -m ganeti.standins.xl``, by hand ``tools/xl-standin``) that
    keeps domains in a state file and answers ``create``, ``shutdown``,
    ``destroy``, ``reboot``, ``list`` (``-l``), ``info``, ``migrate``,
    ``migrate-receive``... in xl's documented formats, recording every
    argv; selected with ``GANETI_XL_STANDIN=1``.  No guest runs.

``drbd``
    The DRBD kernel module with drbdsetup/drbdmeta: answers the DRBD 8.4
    and 9 commands of the driver in DRBD's formats, from a state
    directory the nodes of one local cluster share
    (``GANETI_DRBD_SIMULATOR=<dir>``); ``/dev/drbd<N>`` of a node links
    to the lvm2 stand-in's data volume, a connected primary's data is
    copied to its peer, resyncs advance in virtual time, and tests
    inject a crashed node, a failed disk or a split brain.  The
    driver's command lines are checked against real ``drbdadm`` dry
    runs separately (``test/unit/test_storage_drbd_commands.py``).

``power``
    A node's power cycle (``gnt-node powercycle``) on a local-cluster
    node, whose machine is every node's: the node's daemons are killed
    and its instances stopped (power lost), then the daemons start again
    as they were started (the node boots); ``GANETI_POWER_STANDIN=1``.
    A node daemon under a root never reboots the machine, stand-in or
    not.

Selection rule, shared by every stand-in: a node process uses one only
when it runs under a ``GANETI_ROOTDIR`` root (a local-cluster node; a
real node's root is ``/``) *and* the stand-in's own environment variable
is set.  A real node therefore never selects a stand-in, whatever its
environment says.  ``doc/status.rst`` lists what each stand-in replaces.
"""
