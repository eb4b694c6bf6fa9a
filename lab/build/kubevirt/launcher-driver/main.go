// launcher-driver plays virt-handler's side of one conversation with KubeVirt's own virt-launcher, for the
// launcher probe (launcher-run.sh): it waits for the launcher's command socket, asks for the QEMU version,
// hands it a VMI with SyncVirtualMachine (KubeVirt's own cmd-client, the call virt-handler makes) and polls
// GetDomain until the domain runs or the time is up. It is a stand-in for that one call of virt-handler
// (named as such), not for virt-handler; the lab does not run it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	v1 "kubevirt.io/api/core/v1"

	cmdv1 "kubevirt.io/kubevirt/pkg/handler-launcher-com/cmd/v1"
	cmdclient "kubevirt.io/kubevirt/pkg/virt-handler/cmd-client"
)

func say(format string, args ...interface{}) {
	fmt.Printf("[launcher-driver %s] %s\n", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func fail(format string, args ...interface{}) {
	say("FAILED: "+format, args...)
	os.Exit(1)
}

func main() {
	socket := flag.String("socket", "", "virt-launcher's command socket (<share dir>/sockets/launcher-sock)")
	vmiPath := flag.String("vmi", "", "the VirtualMachineInstance, as JSON")
	wait := flag.Duration("wait", 120*time.Second, "how long to wait for the socket and for the domain to run")
	flag.Parse()
	if *socket == "" || *vmiPath == "" {
		fail("usage: launcher-driver --socket PATH --vmi FILE [--wait DURATION]")
	}
	raw, err := os.ReadFile(*vmiPath)
	if err != nil {
		fail("reading %s: %v", *vmiPath, err)
	}
	vmi := &v1.VirtualMachineInstance{}
	if err := json.Unmarshal(raw, vmi); err != nil {
		fail("%s is not a VMI: %v", *vmiPath, err)
	}
	deadline := time.Now().Add(*wait)
	for {
		if _, err := os.Stat(*socket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			fail("no command socket %s after %s", *socket, *wait)
		}
		time.Sleep(500 * time.Millisecond)
	}
	client, err := cmdclient.NewClient(*socket)
	if err != nil {
		fail("dialing %s: %v", *socket, err)
	}
	defer client.Close()
	if err := client.Ping(); err != nil {
		fail("Ping: %v", err)
	}
	say("launcher answers on %s", *socket)
	if version, err := client.GetQemuVersion(); err != nil {
		say("GetQemuVersion: %v", err)
	} else {
		say("QEMU version reported by the launcher: %s", version)
	}
	options := &cmdv1.VirtualMachineOptions{
		DisksInfo:     map[string]*cmdv1.DiskInfo{},
		Topology:      &cmdv1.Topology{},
		ClusterConfig: &cmdv1.ClusterConfig{BochsDisplayForEFIGuests: true},
	}
	start := time.Now()
	if err := client.SyncVirtualMachine(vmi, options); err != nil {
		fail("SyncVirtualMachine: %v", err)
	}
	say("SyncVirtualMachine accepted after %.1f s", time.Since(start).Seconds())
	last := ""
	for time.Now().Before(deadline) {
		domain, exists, err := client.GetDomain()
		switch {
		case err != nil:
			say("GetDomain: %v", err)
		case !exists:
			say("GetDomain: no domain yet")
		default:
			state := fmt.Sprintf("%s (%s)", domain.Status.Status, domain.Status.Reason)
			if state != last {
				say("domain %s: %s", domain.ObjectMeta.Name, state)
				last = state
			}
			if domain.Status.Status == "Running" {
				say("RUNNING %.1f s after SyncVirtualMachine", time.Since(start).Seconds())
				return
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	fail("domain not running after %s (last state: %s)", *wait, last)
}
