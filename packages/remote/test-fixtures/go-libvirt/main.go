// Command golibvirt-steps drives a libvirt daemon through digitalocean/go-libvirt, an
// independent Go implementation of libvirt's remote protocol, and prints one JSON line per step:
//
//	{"step":"DomainGetState","ok":true,"result":{...}} or {"step":...,"ok":false,"error":"...","code":N}
//
// Usage: golibvirt-steps SOCKET DOMAIN-XML-FILE
//
// It builds offline from Debian's golang-github-digitalocean-go-libvirt-dev:
// GO111MODULE=off GOPATH=/usr/share/gocode go build -o golibvirt-steps .
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

type step struct {
	Step   string      `json:"step"`
	OK     bool        `json:"ok"`
	Result interface{} `json:"result,omitempty"`
	Error  string      `json:"error,omitempty"`
	Code   uint32      `json:"code,omitempty"`
}

type lifecycle struct {
	Domain string `json:"domain"`
	Event  int32  `json:"event"`
	Detail int32  `json:"detail"`
}

// eventsWait bounds how long the program waits for the last expected event (UNDEFINED) after
// the last call; it is not a measurement, only a guard against a daemon that never sends it.
const eventsWait = 10 * time.Second

var out = json.NewEncoder(os.Stdout)

// report prints one step's line and says whether it succeeded.
func report(name string, result interface{}, err error) bool {
	s := step{Step: name, OK: err == nil, Result: result}
	if err != nil {
		s.Result = nil
		s.Error = err.Error()
		var lerr libvirt.Error
		if errors.As(err, &lerr) {
			s.Code = lerr.Code
		}
	}
	if e := out.Encode(s); e != nil {
		fmt.Fprintln(os.Stderr, e)
		os.Exit(2)
	}
	return err == nil
}

func domainJSON(d libvirt.Domain) map[string]interface{} {
	return map[string]interface{}{"name": d.Name, "id": d.ID, "uuid": fmt.Sprintf("%x", d.UUID[:])}
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: golibvirt-steps SOCKET DOMAIN-XML-FILE")
		os.Exit(2)
	}
	xml, err := os.ReadFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}

	l := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(os.Args[1]), dialers.WithLocalTimeout(5*time.Second)))
	if !report("connect", nil, l.Connect()) {
		os.Exit(1)
	}

	// Subscribe before anything happens to the domain, so every lifecycle event is seen.
	ctx, cancel := context.WithCancel(context.Background())
	var events []lifecycle
	eventsDone := make(chan struct{})
	sawUndefined := make(chan struct{})
	ch, err := l.LifecycleEvents(ctx)
	if report("LifecycleEvents", nil, err) {
		go func() {
			defer close(eventsDone)
			closed := false
			for ev := range ch {
				events = append(events, lifecycle{Domain: ev.Dom.Name, Event: ev.Event, Detail: ev.Detail})
				if ev.Event == int32(libvirt.DomainEventUndefined) && !closed {
					close(sawUndefined)
					closed = true
				}
			}
		}()
	} else {
		close(eventsDone)
	}

	ver, err := l.ConnectGetLibVersion()
	report("ConnectGetLibVersion", ver, err)

	host, err := l.ConnectGetHostname()
	report("ConnectGetHostname", host, err)

	doms, _, err := l.ConnectListAllDomains(1, libvirt.ConnectListDomainsActive|libvirt.ConnectListDomainsInactive)
	names := []string{}
	for _, d := range doms {
		names = append(names, d.Name)
	}
	report("ConnectListAllDomains", names, err)

	dom, err := l.DomainDefineXML(string(xml))
	if report("DomainDefineXML", domainJSON(dom), err) {
		report("DomainCreate", nil, l.DomainCreate(dom))

		// DomainCreate's reply carries no id; look the domain up again as a client would.
		if running, err := l.DomainLookupByName(dom.Name); err == nil {
			dom = running
		}
		state, reason, err := l.DomainGetState(dom, 0)
		report("DomainGetState", map[string]int32{"state": state, "reason": reason}, err)

		desc, err := l.DomainGetXMLDesc(dom, 0)
		report("DomainGetXMLDesc", desc, err)

		st, maxMem, mem, vcpus, cpuTime, err := l.DomainGetInfo(dom)
		report("DomainGetInfo", map[string]interface{}{
			"state": st, "maxMem": maxMem, "memory": mem, "nrVirtCpu": vcpus, "cpuTimePositive": cpuTime > 0,
		}, err)

		caps, err := l.ConnectGetCapabilities()
		report("ConnectGetCapabilities", caps, err)

		report("DomainDestroy", nil, l.DomainDestroy(dom))
		report("DomainUndefine", nil, l.DomainUndefine(dom))
	}

	select {
	case <-sawUndefined:
	case <-time.After(eventsWait):
	}
	cancel()
	<-eventsDone
	if events == nil {
		events = []lifecycle{}
	}
	report("events", events, nil)

	report("disconnect", nil, l.Disconnect())
}
