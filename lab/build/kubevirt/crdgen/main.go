// Command kubevirt-crds writes KubeVirt's CustomResourceDefinitions as one multi-document YAML file.
//
// It is compiled by lab/build/kubevirt/build.sh inside a wrapper module generated in the cache from
// kubevirt.io/kubevirt's own go.mod; it is not built from this directory. The CRDs come from the same
// code virt-operator uses to install them (pkg/virt-operator/resource/generate/components), so the
// schemas match the pinned KubeVirt version exactly.
//
// usage: kubevirt-crds [-o FILE]   (default: stdout)
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"kubevirt.io/kubevirt/pkg/virt-operator/resource/generate/components"
)

type crdFunc func() (*extv1.CustomResourceDefinition, error)

// The same set virt-operator installs (install.GenerateCurrentInstallStrategy) plus the KubeVirt CRD
// itself, which virt-operator's own deployment manifest carries.
var crds = []struct {
	name string
	fn   crdFunc
}{
	{"KubeVirt", components.NewKubeVirtCrd},
	{"VirtualMachine", components.NewVirtualMachineCrd},
	{"VirtualMachineInstance", components.NewVirtualMachineInstanceCrd},
	{"VirtualMachineInstanceMigration", components.NewVirtualMachineInstanceMigrationCrd},
	{"VirtualMachineInstanceReplicaSet", components.NewReplicaSetCrd},
	{"VirtualMachineInstancePreset", components.NewPresetCrd},
	{"VirtualMachinePool", components.NewVirtualMachinePoolCrd},
	{"VirtualMachineSnapshot", components.NewVirtualMachineSnapshotCrd},
	{"VirtualMachineSnapshotContent", components.NewVirtualMachineSnapshotContentCrd},
	{"VirtualMachineRestore", components.NewVirtualMachineRestoreCrd},
	{"VirtualMachineExport", components.NewVirtualMachineExportCrd},
	{"VirtualMachineClone", components.NewVirtualMachineCloneCrd},
	{"VirtualMachineInstancetype", components.NewVirtualMachineInstancetypeCrd},
	{"VirtualMachineClusterInstancetype", components.NewVirtualMachineClusterInstancetypeCrd},
	{"VirtualMachinePreference", components.NewVirtualMachinePreferenceCrd},
	{"VirtualMachineClusterPreference", components.NewVirtualMachineClusterPreferenceCrd},
	{"MigrationPolicy", components.NewMigrationPolicyCrd},
}

// render drops what an apply must not carry (creationTimestamp: null, an empty status), as
// kubevirt's own tools/util.MarshallObject does, and returns YAML.
func render(crd *extv1.CustomResourceDefinition) ([]byte, error) {
	j, err := json.Marshal(crd)
	if err != nil {
		return nil, err
	}
	var obj map[string]interface{}
	if err := json.Unmarshal(j, &obj); err != nil {
		return nil, err
	}
	if md, ok := obj["metadata"].(map[string]interface{}); ok {
		delete(md, "creationTimestamp")
	}
	delete(obj, "status")
	return yaml.Marshal(obj)
}

func main() {
	out := flag.String("o", "", "output file (default: stdout)")
	flag.Parse()

	var buf bytes.Buffer
	for _, c := range crds {
		crd, err := c.fn()
		if err != nil {
			fmt.Fprintf(os.Stderr, "kubevirt-crds: %s: %v\n", c.name, err)
			os.Exit(1)
		}
		if crd.Spec.Names.Kind != c.name {
			fmt.Fprintf(os.Stderr, "kubevirt-crds: expected kind %s, generator returned %s\n", c.name, crd.Spec.Names.Kind)
			os.Exit(1)
		}
		b, err := render(crd)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kubevirt-crds: %s: %v\n", c.name, err)
			os.Exit(1)
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}

	if *out == "" {
		_, _ = os.Stdout.Write(buf.Bytes())
		return
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "kubevirt-crds: %v\n", err)
		os.Exit(1)
	}
}
