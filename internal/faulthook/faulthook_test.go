package faulthook

import "testing"

func TestLoad(t *testing.T) {
	t.Setenv(Env, "")
	if h := Load("s"); h != nil {
		t.Errorf("unset: %+v", h)
	}
	h := (*Hook)(nil)
	h.At(BeforeCommit) // a nil hook never kills
	t.Setenv(Env, "before_commit=0.25, after_commit=0.5,after_rename=1,seed=7")
	if h := Load("s"); h == nil || h.beforeCommit != 0.25 || h.afterCommit != 0.5 || h.afterRename != 1 {
		t.Errorf("parsed %+v", h)
	}
	t.Setenv(Env, "before_commit=lots")
	if h := Load("s"); h != nil {
		t.Errorf("malformed value: %+v, want the hook off", h)
	}
	t.Setenv(Env, "sometimes=1")
	if h := Load("s"); h != nil {
		t.Errorf("unknown key: %+v, want the hook off", h)
	}
	// Probability 0 never kills (this test would die otherwise).
	t.Setenv(Env, "before_commit=0,after_commit=0")
	Load("s").At(AfterCommit)
}

func TestLazyLoadsOnFirstUse(t *testing.T) {
	l := OnFirstUse("s")
	t.Setenv(Env, "before_commit=0,seed=3")
	l.At(BeforeCommit) // probability 0: loaded, never kills
	if l.hook == nil || l.hook.plugin != "s" {
		t.Errorf("after the first At: %+v", l.hook)
	}
}
