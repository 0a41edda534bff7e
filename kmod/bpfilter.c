// SPDX-License-Identifier: GPL-2.0-only
/*
 * bpfilter.ko: serves the iptables sockopts (IPT_SO_SET_* and IPT_SO_GET_* on PF_INET) by handing
 * each one to a user-space helper as the 2018 bpfilter seed did: a 24-byte mbox_request out, a
 * 4-byte mbox_reply back, one at a time. The helper reads and writes the caller's optval itself.
 *
 * Debian's kernels have no CONFIG_USERMODE_DRIVER, so instead of UMD pipes the channel is the
 * misc device /dev/bpfilter: the module starts a launcher with call_usermodehelper, the launcher
 * opens the device on its fds 0 and 1 and execs the helper, which then reads requests from stdin
 * and writes replies to stdout exactly as it would on UMD pipes. Only the process the module
 * started may open the device.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/sockptr.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/umh.h>
#include <linux/wait.h>
#include <net/net_namespace.h>
#include <net/sock.h>

#define DEVICE_NAME "bpfilter"
#define DEVICE_PATH "/dev/" DEVICE_NAME

struct mbox_request {
	__u64 addr;
	__u32 len;
	__u32 is_set;
	__u32 cmd;
	__u32 pid;
};

/* status: 0, a positive optlen for getsockopt, or a negative errno. */
struct mbox_reply {
	__s32 status;
};

static_assert(sizeof(struct mbox_request) == 24);
static_assert(sizeof(struct mbox_reply) == 4);

static char *helper;
module_param(helper, charp, 0444);
MODULE_PARM_DESC(helper, "launcher that puts " DEVICE_PATH " on fds 0/1 and execs helper_cmd");

static char *helper_cmd;
module_param(helper_cmd, charp, 0444);
MODULE_PARM_DESC(helper_cmd, "helper command line, e.g. \"/usr/bin/node /opt/bpfilter/dist/src/cli.js umh\"");

static char *helper_log = "/dev/null";
module_param(helper_log, charp, 0444);
MODULE_PARM_DESC(helper_log, "file the helper's stderr is appended to");

static unsigned int timeout_ms = 30000;
module_param(timeout_ms, uint, 0444);
MODULE_PARM_DESC(timeout_ms, "how long the helper may take to start or to answer one request");

enum phase { IDLE, REQUEST_READY, REQUEST_TAKEN, REPLY_READY };

/*
 * The one channel to the one helper. request_lock serialises callers (and starting or killing the
 * helper); chan_lock guards the fields, which the device's file operations change concurrently.
 */
static DEFINE_MUTEX(request_lock);
static DEFINE_SPINLOCK(chan_lock);
static DECLARE_WAIT_QUEUE_HEAD(chan_wait);
static struct {
	struct pid *pid;	/* the process we started, until it is killed */
	struct file *file;	/* its open device, from open until release */
	bool broken;		/* protocol error or death: the helper must be replaced */
	enum phase phase;
	struct mbox_request req;
	s32 status;
} chan;

static long timeout_jiffies(void)
{
	return msecs_to_jiffies(timeout_ms);
}

static bool chan_test(bool (*pred)(const struct file *file), const struct file *file)
{
	bool ret;

	spin_lock(&chan_lock);
	ret = pred(file);
	spin_unlock(&chan_lock);
	return ret;
}

static bool is_connected(const struct file *unused)
{
	return chan.file && !chan.broken;
}

static bool is_released(const struct file *unused)
{
	return !chan.file;
}

static bool reply_or_broken(const struct file *unused)
{
	return chan.phase == REPLY_READY || chan.broken || !chan.file;
}

static bool request_or_stale(const struct file *file)
{
	return chan.phase == REQUEST_READY || chan.file != file || chan.broken;
}

static void mark_broken(void)
{
	spin_lock(&chan_lock);
	chan.broken = true;
	spin_unlock(&chan_lock);
	wake_up_all(&chan_wait);
}

/*
 * Kills the helper and waits until it has closed the device and left the process table, so a
 * new helper can open the device and module exit cannot race the helper's last fput.
 */
static void helper_kill(void)
{
	unsigned long deadline = jiffies + timeout_jiffies();
	struct pid *pid;

	spin_lock(&chan_lock);
	pid = chan.pid;
	chan.pid = NULL;
	chan.broken = true;
	spin_unlock(&chan_lock);
	wake_up_all(&chan_wait);
	if (!pid)
		return;

	kill_pid(pid, SIGKILL, 1);
	if (!wait_event_timeout(chan_wait, chan_test(is_released, NULL), timeout_jiffies()))
		pr_warn("killed helper pid %d still holds " DEVICE_PATH "\n", pid_nr(pid));
	for (;;) {
		bool alive;

		rcu_read_lock();
		alive = pid_task(pid, PIDTYPE_PID);
		rcu_read_unlock();
		if (!alive)
			break;
		if (time_after(jiffies, deadline)) {
			pr_warn("killed helper pid %d has not exited\n", pid_nr(pid));
			break;
		}
		msleep(10);
	}
	put_pid(pid);
}

/* Runs in the new process before it execs the launcher: this is the only pid allowed to open. */
static int helper_init(struct subprocess_info *info, struct cred *new)
{
	struct pid *pid = get_pid(task_tgid(current));

	spin_lock(&chan_lock);
	chan.pid = pid;
	spin_unlock(&chan_lock);
	return 0;
}

static int helper_exec(void)
{
	static char *envp[] = { "HOME=/", "PATH=/sbin:/bin:/usr/sbin:/usr/bin", NULL };
	struct subprocess_info *info;
	char **cmd, **argv;
	int argc, i, err;

	cmd = argv_split(GFP_KERNEL, helper_cmd, &argc);
	if (!cmd)
		return -ENOMEM;
	argv = kcalloc(argc + 4, sizeof(*argv), GFP_KERNEL);
	if (!argv) {
		argv_free(cmd);
		return -ENOMEM;
	}
	argv[0] = helper;
	argv[1] = DEVICE_PATH;
	argv[2] = helper_log;
	for (i = 0; i < argc; i++)
		argv[3 + i] = cmd[i];

	err = -ENOMEM;
	info = call_usermodehelper_setup(helper, argv, envp, GFP_KERNEL, helper_init, NULL, NULL);
	if (info)
		err = call_usermodehelper_exec(info, UMH_WAIT_EXEC);
	kfree(argv);
	argv_free(cmd);
	return err;
}

/* One request, one reply, over a connected helper; a helper that fails it is killed. */
static int exchange(const struct mbox_request *req, s32 *status)
{
	long left;
	int err;

	spin_lock(&chan_lock);
	if (!chan.file || chan.broken) {
		spin_unlock(&chan_lock);
		return -EPIPE;
	}
	chan.req = *req;
	chan.phase = REQUEST_READY;
	spin_unlock(&chan_lock);
	wake_up_all(&chan_wait);

	left = wait_event_killable_timeout(chan_wait, chan_test(reply_or_broken, NULL),
					   timeout_jiffies());
	spin_lock(&chan_lock);
	/* A reply that came before the helper broke is still this request's answer. */
	if (left > 0 && chan.phase == REPLY_READY) {
		*status = chan.status;
		chan.phase = IDLE;
		spin_unlock(&chan_lock);
		return 0;
	}
	chan.phase = IDLE;
	spin_unlock(&chan_lock);

	if (left == 0) {
		pr_err("helper did not answer cmd %u within %u ms\n", req->cmd, timeout_ms);
		err = -ETIMEDOUT;
	} else if (left < 0) {
		err = -EINTR;
	} else {
		pr_err("helper broke the channel on cmd %u\n", req->cmd);
		err = -EPIPE;
	}
	/* Its reply could still come and answer the next request: never talk to it again. */
	helper_kill();
	return err;
}

/* Starts a helper unless one is connected, and checks it with the all-zero request. */
static int helper_ensure(void)
{
	static const struct mbox_request health = {};
	s32 status;
	int err;

	if (chan_test(is_connected, NULL))
		return 0;
	helper_kill();

	spin_lock(&chan_lock);
	if (chan.file) {
		/* The old helper outlived helper_kill's wait: the device is not free yet. */
		spin_unlock(&chan_lock);
		return -EBUSY;
	}
	chan.broken = false;
	chan.phase = IDLE;
	spin_unlock(&chan_lock);

	err = helper_exec();
	if (err) {
		pr_err("cannot run %s: %d\n", helper, err);
		helper_kill();
		return err < 0 ? err : -ECHILD;
	}
	if (!wait_event_timeout(chan_wait, chan_test(is_connected, NULL), timeout_jiffies())) {
		pr_err("helper did not open " DEVICE_PATH " within %u ms\n", timeout_ms);
		helper_kill();
		return -ETIMEDOUT;
	}
	err = exchange(&health, &status);
	if (err)
		return err;
	if (status != 0) {
		pr_err("helper answered the health check with %d\n", status);
		helper_kill();
		return -EPROTO;
	}
	return 0;
}

static int forward(struct sock *sk, int optval, u64 addr, unsigned int len, bool is_set)
{
	struct mbox_request req = {
		.addr = addr,
		.len = len,
		.is_set = is_set,
		.cmd = optval,
		/* The helper opens /proc/<pid>/mem and ns/net: it lives in the initial pid ns. */
		.pid = current->tgid,
	};
	s32 status;
	int err;

	if (!ns_capable(sock_net(sk)->user_ns, CAP_NET_ADMIN))
		return -EPERM;
	if (mutex_lock_killable(&request_lock))
		return -EINTR;
	err = helper_ensure();
	if (!err)
		err = exchange(&req, &status);
	mutex_unlock(&request_lock);
	if (err)
		return err;
	if (status < -MAX_ERRNO)
		return -EIO;
	return status;
}

static int bpfilter_set(struct sock *sk, int optval, sockptr_t arg, unsigned int len)
{
	int status;

	/* The helper can only reach user memory, as with the upstream bpfilter module. */
	if (sockptr_is_kernel(arg))
		return -EFAULT;
	status = forward(sk, optval, (uintptr_t)arg.user, len, true);
	return status < 0 ? status : 0;
}

static int bpfilter_get(struct sock *sk, int optval, void __user *user, int *len)
{
	int status = forward(sk, optval, (uintptr_t)user, *len, false);

	if (status < 0)
		return status;
	if (status > 0)
		*len = status;
	return 0;
}

static struct nf_sockopt_ops bpfilter_sockopts = {
	.pf = PF_INET,
	.set_optmin = IPT_BASE_CTL,
	.set_optmax = IPT_SO_SET_MAX + 1,
	.set = bpfilter_set,
	.get_optmin = IPT_BASE_CTL,
	.get_optmax = IPT_SO_GET_MAX + 1,
	.get = bpfilter_get,
	.owner = THIS_MODULE,
};

static int chan_open(struct inode *inode, struct file *file)
{
	int err = 0;

	spin_lock(&chan_lock);
	if (!chan.pid || chan.pid != task_tgid(current))
		err = -EPERM;
	else if (chan.file)
		err = -EBUSY;
	else
		chan.file = file;
	spin_unlock(&chan_lock);
	if (err)
		return err;
	wake_up_all(&chan_wait);
	return stream_open(inode, file);
}

static int chan_release(struct inode *inode, struct file *file)
{
	spin_lock(&chan_lock);
	if (chan.file == file) {
		chan.file = NULL;
		chan.broken = true;
	}
	spin_unlock(&chan_lock);
	wake_up_all(&chan_wait);
	return 0;
}

/* The helper's stdin: one whole request per read; end of file once it has been replaced. */
static ssize_t chan_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	struct mbox_request req;
	int err;

	err = wait_event_interruptible(chan_wait, chan_test(request_or_stale, file));
	if (err)
		return err;
	spin_lock(&chan_lock);
	if (chan.file != file || chan.broken) {
		spin_unlock(&chan_lock);
		return 0;
	}
	if (count < sizeof(req)) {
		spin_unlock(&chan_lock);
		mark_broken();
		return -EINVAL;
	}
	req = chan.req;
	chan.phase = REQUEST_TAKEN;
	spin_unlock(&chan_lock);
	if (copy_to_user(buf, &req, sizeof(req))) {
		mark_broken();
		return -EFAULT;
	}
	return sizeof(req);
}

/* The helper's stdout: exactly one reply per write, and only to the request it has read. */
static ssize_t chan_write(struct file *file, const char __user *buf, size_t count, loff_t *ppos)
{
	struct mbox_reply reply;

	if (count != sizeof(reply)) {
		mark_broken();
		return -EINVAL;
	}
	if (copy_from_user(&reply, buf, sizeof(reply))) {
		mark_broken();
		return -EFAULT;
	}
	spin_lock(&chan_lock);
	if (chan.file != file || chan.broken) {
		spin_unlock(&chan_lock);
		return -EPIPE;
	}
	if (chan.phase != REQUEST_TAKEN) {
		spin_unlock(&chan_lock);
		mark_broken();
		return -EINVAL;
	}
	chan.status = reply.status;
	chan.phase = REPLY_READY;
	spin_unlock(&chan_lock);
	wake_up_all(&chan_wait);
	return count;
}

/*
 * No .owner: the helper holds the device open for as long as the module is loaded, and a module
 * reference would make rmmod impossible. Module exit instead kills the helper and waits for it
 * to be gone (helper_kill) before the code goes away.
 */
static const struct file_operations chan_fops = {
	.open = chan_open,
	.release = chan_release,
	.read = chan_read,
	.write = chan_write,
};

static struct miscdevice dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = DEVICE_NAME,
	.fops = &chan_fops,
	.mode = 0600,
};

static int __init bpfilter_init(void)
{
	int err;

	if (!helper || !*helper || !helper_cmd || !*helper_cmd) {
		pr_err("helper= (the launcher) and helper_cmd= (the helper's command line) are required\n");
		return -EINVAL;
	}
	if (!timeout_ms) {
		pr_err("timeout_ms= must be positive\n");
		return -EINVAL;
	}
	err = misc_register(&dev);
	if (err) {
		pr_err("cannot register " DEVICE_PATH ": %d\n", err);
		return err;
	}
	mutex_lock(&request_lock);
	err = helper_ensure();
	mutex_unlock(&request_lock);
	if (err) {
		pr_err("the helper failed to start or its health check: %d\n", err);
		goto out_dev;
	}
	/* Last, so that no caller can be inside the module if loading fails. */
	err = nf_register_sockopt(&bpfilter_sockopts);
	if (err) {
		pr_err("iptables sockopts %d..%d are taken (is ip_tables loaded?): %d\n",
		       IPT_BASE_CTL, IPT_SO_GET_MAX, err);
		goto out_helper;
	}
	pr_info("serving iptables sockopts through helper pid %d\n", pid_nr(chan.pid));
	return 0;

out_helper:
	mutex_lock(&request_lock);
	helper_kill();
	mutex_unlock(&request_lock);
out_dev:
	misc_deregister(&dev);
	return err;
}

static void __exit bpfilter_exit(void)
{
	nf_unregister_sockopt(&bpfilter_sockopts);
	mutex_lock(&request_lock);
	helper_kill();
	mutex_unlock(&request_lock);
	misc_deregister(&dev);
}

module_init(bpfilter_init);
module_exit(bpfilter_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("iptables sockopts served by a user-space bpfilter helper");
