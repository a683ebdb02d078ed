#!/usr/bin/env python3
"""collect.py — rebuild the kickstart corpus measure.sh reads, from local git mirrors.

Run (see README.md):
    cd /tmp && unshare -n env PYTHONPATH=/tmp/pyks python3 collect.py [CORPUS_DIR]

CORPUS_DIR (default: $KSCORPUS, else /work/kscorpus) gets one directory per
source, each file at its original relative path, plus MANIFEST.tsv (source,
corpus path, repo, ref, commit, original path, treatment), SKIPPED.tsv and
DUPLICATES.tsv.  Repositories are read from bare mirrors under $KS_MIRROR
(default /work/.mirror), OWNER+NAME/repo, at the commits pinned in PINS below
(the ones the corpus was built from); the kickstart-tests step also needs a
work tree of rhinstaller/kickstart-tests at its pinned commit in $KST (default
/tmp/kst) and pykickstart importable (PYTHONPATH=/tmp/pyks).  Run it inside
`unshare -n`: nothing here needs the network.
"""
import hashlib, os, re, subprocess, sys, shutil

CORPUS = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KSCORPUS", "/work/kscorpus")
MIRROR = os.environ.get("KS_MIRROR", "/work/.mirror")
KST = os.environ.get("KST", "/tmp/kst")
PYKS = os.environ.get("PYKS", "/tmp/pyks")

# (repository, ref) -> the commit the corpus was collected at
PINS = {
    ("rhinstaller/kickstart-tests", "HEAD"): "c5fd744121d45863d9d8f9fb097344756bc13c02",
    ("rocky-linux/kickstarts", "r8"): "0d82d4bcbb824c4732f4d97233e9189647e5bec0",
    ("rocky-linux/kickstarts", "r9"): "126d7433e0bbab3a5a722385f7e08b920c41ec1d",
    ("rocky-linux/kickstarts", "r10"): "a86fc78f03e3dcadbbc988a4d60fb3f052415acd",
    ("AlmaLinux/cloud-images", "HEAD"): "bac09d68122ee16309e2f10433bfae5ab248b212",
    ("AlmaLinux/sig-livemedia", "HEAD"): "3d2e9938c1bb1b36f0a94a1fd926f4ae999a117d",
    ("ComplianceAsCode/content", "HEAD"): "b3a2cca9352cbcefb7f00d770bfd6f679da18d6a",
    ("lavabit/robox", "HEAD"): "2b308999bda364c11a05d79727f6fc570be99646",
    ("CentOS/sig-cloud-instance-build", "HEAD"): "98aa8c6f0290feeb94d86b52c561d70eabc7d942",
    ("vmware-samples/packer-examples-for-vsphere", "HEAD"): "e71d2f5a32f7cedd5ce506f54123390c77961b5b",
    ("kubernetes-sigs/image-builder", "HEAD"): "ae63061efb154adbbd4605958c506aae8fc1d03c",
    ("weldr/lorax", "HEAD"): "ba5acecfb45cf860c39fc0c64fdf4630c78accd2",
    ("boxcutter/centos", "HEAD"): "a3cf04b351a096cf6bf3b9017f1062ddff710cf0",
    ("boxcutter/fedora", "HEAD"): "6e5fccff745f4ce7b2951ab6d19cd960f61be32d",
    ("boxcutter/oraclelinux", "HEAD"): "314d4913985f70157f7419733d0ad33d441aabc9",
    ("chef/bento", "HEAD"): "6c949e8ccb1c894799cd832ee252b30e159423e4",
    ("geerlingguy/packer-boxes", "HEAD"): "df04d43c5d64d118a91737b7fa24d0e03775d85c",
    ("kaorimatz/packer-templates", "HEAD"): "6a0331e5baeb1c694137164751b9005fc2deaa78",
    ("shiguredo/packer-templates", "HEAD"): "b732230eff434f8fb79424826082f5ffe99a5cee",
    ("mrlesmithjr/packer-templates", "HEAD"): "49a54a9179bf90c68bc4bde84683bf36a3210531",
    ("oracle/oracle-linux", "HEAD"): "e90ee0c69396a1cfee0f7f3263e652c6967997de",
    ("rgl/almalinux-vagrant", "HEAD"): "01500f16f0f545bf7ed694467c499ee949dda520",
    ("srbala/fedora-kickstarts", "HEAD"): "c4bb51a775e1d16b315f82a2c869c3383c67ee84",
}
SOURCES = ["kickstart-tests", "rocky-kickstarts", "almalinux-cloud-images", "almalinux-sig-livemedia",
           "complianceascode", "chef-bento", "robox", "boxcutter-centos", "boxcutter-fedora",
           "boxcutter-oraclelinux", "centos-sig-cloud-instance-build", "lorax", "kubernetes-image-builder",
           "vmware-packer-examples", "rgl-almalinux-vagrant", "geerlingguy-packer-boxes",
           "kaorimatz-packer-templates", "shiguredo-packer-templates", "mrlesmithjr-packer-templates",
           "oracle-linux-image-tools", "fedora-kickstarts"]
manifest, skipped = [], []

def gitdir(repo):
    d = os.path.join(MIRROR, repo.replace("/", "+"), "repo")
    return d + "/.git" if os.path.isdir(d + "/.git") else d

def git(repo, *args):
    return subprocess.run(["git", "--git-dir", gitdir(repo), *args], check=True,
                          capture_output=True).stdout

def commit(repo, ref):
    """The pinned commit of REPO's REF (must be in the mirror)."""
    c = PINS.get((repo, ref)) or git(repo, "rev-parse", ref).decode().strip()
    try:
        git(repo, "cat-file", "-e", c + "^{commit}")
    except subprocess.CalledProcessError:
        sys.exit(f"collect.py: {repo} has no commit {c} in {gitdir(repo)}: fetch it first")
    return c

def ls(repo, ref):
    return git(repo, "ls-tree", "-r", "--name-only", commit(repo, ref)).decode().splitlines()

def show(repo, ref, path):
    return git(repo, "show", f"{commit(repo, ref)}:{path}")

def put(source, relpath, data, repo, ref, orig, treatment="verbatim"):
    dest = os.path.join(CORPUS, source, relpath)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest, "wb") as f:
        f.write(data)
    manifest.append((source, os.path.join(source, relpath), repo, ref, commit(repo, ref), orig, treatment))

def skip(source, repo, path, why):
    skipped.append((source, repo, path, why))

def take(source, repo, pattern, ref="HEAD", prefix="", exclude=None, transform=None):
    rx = re.compile(pattern)
    for p in ls(repo, ref):
        if not rx.search(p):
            continue
        if exclude:
            why = exclude(p)
            if why:
                skip(source, repo, p, why)
                continue
        data = show(repo, ref, p)
        treatment = "verbatim"
        if transform:
            data, treatment = transform(p, data)
            if data is None:
                skip(source, repo, p, treatment)
                continue
        put(source, os.path.join(prefix, p), data, repo, ref, p, treatment)

# ---- substitutions -------------------------------------------------------
KSTEST = {  # rhinstaller/kickstart-tests placeholders (see README.md)
    "@KSTEST_URL@": "http://example.com/rocky9/BaseOS/x86_64/os/",
    "@KSTEST_MODULAR_URL@": "http://example.com/rocky9/AppStream/x86_64/os/",
    "@KSTEST_FTP_URL@": "ftp://example.com/rocky9/BaseOS/x86_64/os/",
    "@KSTEST_FTP_APPSTREAM_URL@": "ftp://example.com/rocky9/AppStream/x86_64/os/",
    "@KSTEST_METALINK@": "https://mirrors.example.com/metalink?repo=rocky-BaseOS-9&arch=x86_64",
    "@KSTEST_MIRRORLIST@": "https://mirrors.example.com/mirrorlist?repo=BaseOS-9&arch=x86_64",
    "@KSTEST_OSTREECONTAINER_URL@": "quay.io/example/rocky-bootc:9",
    "@KSTEST_OSTREE_REPO@": "http://example.com/ostree/repo/",
    "@KSTEST_LIVEIMG_URL@": "http://example.com/liveimg/install.img",
    "@KSTEST_LIVEIMG_CHECKSUM@": "0f343b0931126a20f133d67c2b018a3b1c8d3b1b0f4a8b4e4a8b6c1d8e9f0a1b",
    "@KSTEST_NFS_SERVER@": "nfs.example.com",
    "@KSTEST_NFS_PATH@": "/exports/rocky9",
    "@KSTEST_OS_NAME@": "rhel",
    "@KSTEST_OS_VERSION@": "9",
    "@KSTEST_NETDEV1@": "enp1s0", "@KSTEST_NETDEV2@": "enp2s0", "@KSTEST_NETDEV3@": "enp3s0",
    "@KSTEST_NETDEV4@": "enp4s0", "@KSTEST_NETDEV5@": "enp5s0", "@KSTEST_NETDEV6@": "enp6s0",
    "@KSTEST_NETDEV2_MAC@": "52:54:00:12:34:62",
    "@KSTEST_STATIC_IP@": "10.0.2.200", "@KSTEST_STATIC_IP1@": "10.0.2.200",
    "@KSTEST_STATIC_IP2@": "10.0.2.201", "@KSTEST_STATIC_IP3@": "10.0.2.202",
    "@KSTEST_STATIC_IP4@": "10.0.2.203", "@KSTEST_STATIC_NETMASK@": "255.255.255.0",
    "@KSTEST_STATIC_PREFIX@": "24", "@KSTEST_STATIC_GATEWAY@": "10.0.2.2",
    "@KSTEST_STATIC_DNS1@": "10.0.2.3",
    "@KSTEST_ISCSI_IP@": "10.0.2.2", "@KSTEST_ISCSI_PORT@": "3260",
    "@KSTEST_ISCSI_TARGET@": "iqn.2003-01.org.linux-iscsi.example:sn.0123456789ab",
    "@KSTEST_ISCSINAME@": "iqn.1994-05.com.redhat:example01",
}
# placeholders of the rhel9 fragments that are not @KSTEST_ ones
KSTEST_FRAGMENT = {
    "RHEL9_UNIFIED_REPO_URL_GOES_HERE": "--url=http://example.com/rocky9/unified/",
    "NFS_SERVER": "nfs.example.com",
    "NFS_DIR": "/exports/rocky9",
    # ks-include.sh serves the file over HTTP and puts its URL here
    "KS-TEST-INCLUDE": "http://example.com/ks-include-post.ks",
}

def render_kickstart_tests():
    repo, ref = "rhinstaller/kickstart-tests", "HEAD"
    wt = KST  # work tree of that repository at its pinned commit
    head = subprocess.run(["git", "-C", wt, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    if head != commit(repo, ref):
        sys.exit(f"collect.py: {wt} is at {head or 'nothing'}, not {commit(repo, ref)}: "
                 f"git --git-dir={gitdir(repo)} worktree add {wt} {commit(repo, ref)}")
    sys.path.insert(0, PYKS)
    from pykickstart.parser import preprocessFromStringToString
    runtime = "/tmp/kst-runtime-rhel9"
    shutil.rmtree(runtime, ignore_errors=True)
    shutil.copytree(os.path.join(wt, "fragments/shared"), runtime)
    shutil.copytree(os.path.join(wt, "fragments/platform/rhel9"), runtime, dirs_exist_ok=True)
    cwd = os.getcwd()
    for p in sorted(ls(repo, ref)):
        if "/" in p or not p.endswith(".ks.in"):
            if p.endswith(".ks.in"):
                skip("kickstart-tests", repo, p, "not a top-level test")
            continue
        src = show(repo, ref, p).decode()
        os.chdir(runtime)
        try:
            text = preprocessFromStringToString(src).decode()
        except Exception as e:
            os.chdir(cwd)
            missing = re.findall(r"No such file or directory: '([^']+)'", str(e))
            skip("kickstart-tests", repo, p, "%ksappend " + ",".join(missing) +
                 " has no rhel9 fragment (only fedora_rawhide has it: the test does not run on RHEL 9)")
            continue
        os.chdir(cwd)
        for k, v in KSTEST.items():
            text = text.replace(k, v)
        for k, v in KSTEST_FRAGMENT.items():
            text = re.sub(r"(?<![\w-])%s(?![\w-])" % re.escape(k), v, text)
        # @KSINCLUDE@ FILE: replaced by the file (run_kickstart_tests.sh)
        out = []
        for line in text.splitlines(True):
            m = re.match(r"\s*@KSINCLUDE@\s*(\S+)", line)
            if m:
                out.append(show(repo, ref, m.group(1)).decode())
            else:
                out.append(line)
        text = "".join(out)
        left = sorted(set(re.findall(r"@KSTEST_[A-Z0-9_]+@", text)))
        if left:
            skip("kickstart-tests", repo, p, "unsubstituted " + ",".join(left))
            continue
        put("kickstart-tests", p, text.encode(), repo, ref, p,
            "rendered: %ksappend with fragments/shared+platform/rhel9, @KSTEST_*@ substituted, @KSINCLUDE@ inlined")

def cac_test_suite(p, data):
    t = data.decode()
    t = t.replace("&&YUM_EXTRA_REPO&&", "repo --name=extra-repository --baseurl=http://example.com/rocky9/AppStream/x86_64/os/")
    t = t.replace("&&YUM_EXTRA_REPO_URL&&", "http://example.com/rocky9/AppStream/x86_64/os/")
    t = t.replace("&&YUM_REPO_URL&&", "http://example.com/rocky9/BaseOS/x86_64/os/")
    t = t.replace("&&HOST_PUBLIC_KEY&&", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample test@example")
    return t.encode(), "substituted &&YUM_EXTRA_REPO&&, &&YUM_EXTRA_REPO_URL&&, &&YUM_REPO_URL&&, &&HOST_PUBLIC_KEY&& as tests/install_vm.py does"

def capi(p, data):
    t = data.decode().replace("$SSH_PASSWORD", "builderpassword").replace("$ENCRYPTED_SSH_PASSWORD", CRYPT)
    return t.encode(), "substituted $SSH_PASSWORD as hack/set-ssh-password.sh does"

CRYPT = "$6$examplesalt$Wb0bFzYy5cC2V6kq7Q2yZ1wYbq0Zr7b1K0m2Qy8cFh1sJzXo7lB1nYJQb4v3XqH6mFQ2cK5u9W8e0Rr1tT3pA."

def vmware_render():
    repo, ref = "vmware-samples/packer-examples-for-vsphere", "HEAD"
    net = show(repo, ref, "tests/network/golden/dhcp-kickstart").decode()
    storage = show(repo, ref, "tests/storage/golden/lvm-kickstart").decode()
    vals = {"vm_guest_os_language": "en_US.UTF-8", "vm_guest_os_keyboard": "us",
            "vm_guest_os_timezone": "UTC", "build_username": "packer",
            "build_password_encrypted": CRYPT, "rhsm_username": "rhsmuser",
            "rhsm_password": "rhsmpassword", "network": net, "storage": storage,
            "additional_packages": ""}
    for p in ls(repo, ref):
        if p.endswith("/ks.pkrtpl.hcl"):
            if "/debian/" in p or "/photon/" in p:
                skip("vmware-packer-examples", repo, p, "not an anaconda kickstart (%s)" % p.split("/")[2])
                continue
            t = show(repo, ref, p).decode()
            # additional_packages is empty: drop the %{ if additional_packages != "" ~} block
            t = re.sub(r'%\{ if additional_packages != "" ~\}.*?%\{ endif ~\}\n?', "", t, flags=re.S)
            t = re.sub(r"\$\{(\w+)\}", lambda m: vals[m.group(1)], t)
            if "%{" in t or "${" in t:
                skip("vmware-packer-examples", repo, p, "template left unrendered")
                continue
            put("vmware-packer-examples", p, t.encode(), repo, ref, p,
                "rendered packer templatefile: network=tests/network/golden/dhcp-kickstart, storage=tests/storage/golden/lvm-kickstart, additional_packages empty, other vars see README")
        elif re.search(r"tests/(network|storage)/golden/.*-kickstart(-swap)?$", p):
            put("vmware-packer-examples", p, show(repo, ref, p), repo, ref, p, "verbatim (golden rendered fragment)")

def main():
    os.makedirs(CORPUS, exist_ok=True)
    for d in SOURCES + ["MANIFEST.tsv", "SKIPPED.tsv", "DUPLICATES.tsv"]:  # only what this script writes
        full = os.path.join(CORPUS, d)
        if os.path.isdir(full):
            shutil.rmtree(full)
        elif os.path.exists(full):
            os.remove(full)
    render_kickstart_tests()
    for b in ("r8", "r9", "r10"):
        take("rocky-kickstarts", "rocky-linux/kickstarts", r"\.ks$", ref=b, prefix=b)
    take("almalinux-cloud-images", "AlmaLinux/cloud-images", r"^http/.*\.ks$")
    take("almalinux-sig-livemedia", "AlmaLinux/sig-livemedia", r"^kickstarts/.*\.ks$")
    take("complianceascode", "ComplianceAsCode/content", r"^products/[^/]+/kickstart/.*\.cfg$")
    take("complianceascode", "ComplianceAsCode/content", r"^tests/kickstarts/test_suite\.cfg$", transform=cac_test_suite)
    take("complianceascode", "ComplianceAsCode/content", r"^(?!products/).*(/kickstart/.*\.cfg$|/kickstart\.template$)",
         exclude=lambda p: "CaC remediation snippet/template, not anaconda syntax")
    take("chef-bento", "chef/bento", r"^packer_templates/http/rhel/.*ks\.cfg$")
    take("robox", "lavabit/robox", r"^http/.*\.ks$")
    take("boxcutter-centos", "boxcutter/centos", r"ks\.cfg$")
    take("boxcutter-fedora", "boxcutter/fedora", r"^http/ks.*\.cfg$")
    take("boxcutter-oraclelinux", "boxcutter/oraclelinux", r"^http/ks.*\.cfg$")
    take("centos-sig-cloud-instance-build", "CentOS/sig-cloud-instance-build", r"(\.ks|openstack-64-growroot\.cfg)$")
    take("lorax", "weldr/lorax", r"^(docs|tests/mkksiso/ks)/[^/]+\.ks$")
    take("kubernetes-image-builder", "kubernetes-sigs/image-builder", r"/ks\.cfg\.tmpl$", transform=capi)
    vmware_render()
    take("rgl-almalinux-vagrant", "rgl/almalinux-vagrant", r"^ks\.cfg$")
    take("geerlingguy-packer-boxes", "geerlingguy/packer-boxes", r"/http/ks\.cfg$")
    take("kaorimatz-packer-templates", "kaorimatz/packer-templates", r"anaconda-ks\.cfg$")
    take("shiguredo-packer-templates", "shiguredo/packer-templates", r"/http/ks\.cfg$")
    take("mrlesmithjr-packer-templates", "mrlesmithjr/packer-templates", r"ks[^/]*\.cfg$",
         exclude=lambda p: "VMware ESXi kickstart, not anaconda" if "/esxi/" in p else None)
    take("oracle-linux-image-tools", "oracle/oracle-linux", r"^oracle-linux-image-tools/distr/.*-ks\.cfg$")
    take("fedora-kickstarts", "srbala/fedora-kickstarts", r"\.ks$")
    # exact duplicates (same bytes) are kept: they are cited by path; DUPLICATES.tsv groups them
    groups = {}
    for row in manifest:
        with open(os.path.join(CORPUS, row[1]), "rb") as f:
            groups.setdefault(hashlib.sha256(f.read()).hexdigest(), []).append(row[1])
    with open(os.path.join(CORPUS, "MANIFEST.tsv"), "w") as f:
        f.write("source\tcorpus_path\trepo\tref\tcommit\toriginal_path\ttreatment\n")
        for r in manifest:
            f.write("\t".join(r) + "\n")
    with open(os.path.join(CORPUS, "SKIPPED.tsv"), "w") as f:
        f.write("source\trepo\tpath\treason\n")
        for r in skipped:
            f.write("\t".join(r) + "\n")
    with open(os.path.join(CORPUS, "DUPLICATES.tsv"), "w") as f:
        f.write("sha256\tcount\tpaths\n")
        for h, ps in groups.items():
            if len(ps) > 1:
                f.write(f"{h}\t{len(ps)}\t{' '.join(ps)}\n")
    print(len(manifest), "files,", len(skipped), "skipped,",
          sum(len(v) - 1 for v in groups.values()), "exact duplicates")

main()
