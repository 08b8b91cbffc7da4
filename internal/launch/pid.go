package launch

import "syscall"

// Pid returns the plugin's process id, or 0 when it is not running. Tests
// and logs use it to name the process a supervisor restarts.
func (p *Process) Pid() int {
	rc := p.client.ReattachConfig()
	if rc == nil {
		return 0
	}
	return rc.Pid
}

// Kill ends the plugin process at once with SIGKILL. Stop asks the plugin
// to exit over gRPC first and waits for the answer without a deadline, so
// a plugin that stopped answering must be killed this way.
func (p *Process) Kill() {
	if pid := p.Pid(); pid > 0 && !p.client.Exited() {
		// The process may have exited since; ESRCH changes nothing.
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	p.Stop()
}
