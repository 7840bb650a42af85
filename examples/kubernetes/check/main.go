// Command check validates the Kubernetes manifests of examples/kubernetes
// offline: every document is decoded strictly into its k8s.io/api type (an
// unknown or misspelt field is an error, as kubectl apply --validate=strict
// would say), and the fields drsctl depends on are checked: the CronJob
// never runs twice at once, runs as non-root with resources requested, runs
// a real drsctl verb, and every Secret and ConfigMap it refers to is in the
// set with the keys it reads.
//
// It is its own module so that drsctl's go.mod does not carry k8s.io/api;
// cmd/drsctl's examples test builds and runs it:
//
//	go run . -verbs apply,plan,validate -value-flags chdir,config ../cronjob.yaml ../secret.yaml
//
// Exit status 1 and one line per problem on stderr when a manifest is
// refused.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

func main() {
	verbs := flag.String("verbs", "", "comma-separated drsctl commands a container may run (required)")
	valueFlags := flag.String("value-flags", "", "comma-separated drsctl global flags that take a value (chdir,config,…)")
	flag.Parse()
	if *verbs == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: check -verbs apply,plan,… [-value-flags chdir,…] MANIFEST.yaml…")
		os.Exit(2)
	}
	c := checker{verbs: split(*verbs), valueFlags: split(*valueFlags)}
	for _, name := range flag.Args() {
		b, err := os.ReadFile(name)
		if err != nil {
			c.errorf("%v", err)
			continue
		}
		c.load(name, b)
	}
	c.check()
	if len(c.problems) > 0 {
		for _, p := range c.problems {
			fmt.Fprintln(os.Stderr, p)
		}
		os.Exit(1)
	}
	fmt.Printf("%d manifests valid: %d CronJob, %d ConfigMap, %d Secret\n",
		len(c.cronJobs)+len(c.configMaps)+len(c.secrets), len(c.cronJobs), len(c.configMaps), len(c.secrets))
}

func split(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

type located[T any] struct {
	where string // file:document
	obj   T
}

type checker struct {
	verbs, valueFlags []string
	cronJobs          []located[*batchv1.CronJob]
	configMaps        []located[*corev1.ConfigMap]
	secrets           []located[*corev1.Secret]
	problems          []string
}

func (c *checker) errorf(format string, a ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, a...))
}

// documentSep splits a YAML stream into documents.
var documentSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// load decodes each document of a file strictly into the type its
// apiVersion and kind name.
func (c *checker) load(name string, b []byte) {
	starts := []int{0}
	for _, m := range documentSep.FindAllStringIndex(string(b), -1) {
		starts = append(starts, m[1])
	}
	for i, doc := range documentSep.Split(string(b), -1) {
		line := 1 + strings.Count(string(b[:starts[i]]), "\n")
		where := fmt.Sprintf("%s: document %d (its line 1 is line %d of the file)", name, i+1, line)
		if isBlank(doc) {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			c.errorf("%s: %v", where, err)
			continue
		}
		where = fmt.Sprintf("%s (%s %s)", where, head.APIVersion, head.Kind)
		switch head.APIVersion + "/" + head.Kind {
		case "batch/v1/CronJob":
			if o, ok := decode[batchv1.CronJob](c, where, doc); ok {
				c.cronJobs = append(c.cronJobs, located[*batchv1.CronJob]{where, o})
			}
		case "v1/ConfigMap":
			if o, ok := decode[corev1.ConfigMap](c, where, doc); ok {
				c.configMaps = append(c.configMaps, located[*corev1.ConfigMap]{where, o})
			}
		case "v1/Secret":
			if o, ok := decode[corev1.Secret](c, where, doc); ok {
				c.secrets = append(c.secrets, located[*corev1.Secret]{where, o})
			}
		default:
			c.errorf("%s: not a kind this check knows (batch/v1 CronJob, v1 ConfigMap, v1 Secret): add it to the check before using it", where)
		}
	}
}

func isBlank(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// decode is strict, as the API server's strict field validation: a
// duplicate key or an unknown field (named by its path) is an error.
func decode[T any](c *checker, where, doc string) (*T, bool) {
	j, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		c.errorf("%s: %v", where, err)
		return nil, false
	}
	o := new(T)
	strict, err := kjson.UnmarshalStrict(j, o, kjson.DisallowUnknownFields)
	if err != nil {
		c.errorf("%s: %v", where, err)
		return nil, false
	}
	for _, e := range strict {
		c.errorf("%s: %v", where, e)
	}
	return o, len(strict) == 0
}

func (c *checker) check() {
	if len(c.cronJobs) == 0 && len(c.problems) == 0 {
		c.errorf("no CronJob in the manifests")
	}
	for _, s := range c.secrets {
		for k, v := range s.obj.StringData {
			if v == "" {
				c.errorf("%s: stringData %s is empty: put a placeholder that says what goes there", s.where, k)
			}
		}
	}
	for _, cj := range c.cronJobs {
		c.checkCronJob(cj.where, cj.obj)
	}
}

var cronSchedule = regexp.MustCompile(`^(\S+\s+){4}\S+$`)

func (c *checker) checkCronJob(where string, cj *batchv1.CronJob) {
	where = fmt.Sprintf("%s %s/%s", where, cj.Namespace, cj.Name)
	s := cj.Spec
	if !cronSchedule.MatchString(strings.TrimSpace(s.Schedule)) {
		c.errorf("%s: schedule %q is not five cron fields", where, s.Schedule)
	}
	if s.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		c.errorf("%s: concurrencyPolicy is %q: it must be Forbid, so that two drsctl runs never overlap (Allow runs them together, Replace kills a running apply)", where, s.ConcurrencyPolicy)
	}
	if s.StartingDeadlineSeconds == nil || *s.StartingDeadlineSeconds <= 0 {
		c.errorf("%s: startingDeadlineSeconds is not set: set it below the schedule's interval, so a late run is dropped rather than run late", where)
	}
	js := s.JobTemplate.Spec
	if js.BackoffLimit == nil {
		c.errorf("%s: jobTemplate.spec.backoffLimit is not set (the default retries a failing run 6 times)", where)
	}
	if js.ActiveDeadlineSeconds == nil {
		c.errorf("%s: jobTemplate.spec.activeDeadlineSeconds is not set: a hung run would block every later one (concurrencyPolicy Forbid)", where)
	}
	if cj.Namespace == "" {
		c.errorf("%s: metadata.namespace is not set", where)
	}
	pod := js.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever && pod.RestartPolicy != corev1.RestartPolicyOnFailure {
		c.errorf("%s: restartPolicy %q: a Job's pod needs Never or OnFailure", where, pod.RestartPolicy)
	}
	if len(pod.Containers) == 0 {
		c.errorf("%s: no containers", where)
	}
	podNonRoot := pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
		if v.ConfigMap != nil {
			c.needConfigMap(where, cj.Namespace, v.ConfigMap.Name, "", v.ConfigMap.Optional)
			for _, it := range v.ConfigMap.Items {
				c.needConfigMap(where, cj.Namespace, v.ConfigMap.Name, it.Key, v.ConfigMap.Optional)
			}
		}
		if v.Secret != nil {
			c.needSecret(where, cj.Namespace, v.Secret.SecretName, "", v.Secret.Optional)
		}
	}
	for _, ct := range pod.Containers {
		cw := fmt.Sprintf("%s container %s", where, ct.Name)
		c.checkImage(cw, ct.Image)
		c.checkCommand(cw, ct.Command, ct.Args)
		nonRoot := podNonRoot
		if sc := ct.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
			nonRoot = *sc.RunAsNonRoot
		}
		if !nonRoot {
			c.errorf("%s: runAsNonRoot is not true (pod or container securityContext)", cw)
		}
		if sc := ct.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			c.errorf("%s: securityContext.allowPrivilegeEscalation must be false", cw)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := ct.Resources.Requests[r]; !ok || q.IsZero() {
				c.errorf("%s: resources.requests.%s is not set", cw, r)
			}
		}
		if _, ok := ct.Resources.Limits[corev1.ResourceMemory]; !ok {
			c.errorf("%s: resources.limits.memory is not set", cw)
		}
		for _, e := range ct.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				c.needSecret(cw+" env "+e.Name, cj.Namespace, r.Name, r.Key, r.Optional)
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				c.needConfigMap(cw+" env "+e.Name, cj.Namespace, r.Name, r.Key, r.Optional)
			}
		}
		for _, e := range ct.EnvFrom {
			if e.SecretRef != nil {
				c.needSecret(cw+" envFrom", cj.Namespace, e.SecretRef.Name, "", e.SecretRef.Optional)
			}
			if e.ConfigMapRef != nil {
				c.needConfigMap(cw+" envFrom", cj.Namespace, e.ConfigMapRef.Name, "", e.ConfigMapRef.Optional)
			}
		}
		for _, m := range ct.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok {
				c.errorf("%s: volumeMount %s names no volume of the pod", cw, m.Name)
			}
		}
	}
}

func (c *checker) checkImage(where, image string) {
	if image == "" {
		c.errorf("%s: image is empty", where)
		return
	}
	if strings.Contains(image, "@sha256:") {
		return
	}
	// The tag is after the last colon of the last path segment (a
	// registry's port has a colon too).
	tag := ""
	if i := strings.LastIndex(path.Base(image), ":"); i >= 0 {
		tag = path.Base(image)[i+1:]
	}
	if tag == "" || tag == "latest" {
		c.errorf("%s: image %q has no version tag: pin one (a drsctl version, or a digest), so every run uses the drsctl that wrote the state", where, image)
	}
}

// checkCommand checks that the container runs drsctl with a real verb.
// The flags themselves are checked by cmd/drsctl's examples test, which
// runs drsctl's own argument parsing on them.
func (c *checker) checkCommand(where string, command, args []string) {
	argv := append(slices.Clone(command), args...)
	if len(argv) == 0 {
		c.errorf("%s: no command: the image's entrypoint is not checked, name drsctl in command", where)
		return
	}
	if path.Base(argv[0]) != "drsctl" {
		c.errorf("%s: command %q does not run drsctl", where, argv[0])
		return
	}
	verb, err := findVerb(argv[1:], c.valueFlags)
	if err != nil {
		c.errorf("%s: %v", where, err)
		return
	}
	if !slices.Contains(c.verbs, verb) {
		c.errorf("%s: %q is not a drsctl command (commands: %s)", where, verb, strings.Join(c.verbs, ", "))
	}
}

// findVerb skips drsctl's global flags to the command name.
func findVerb(args, valueFlags []string) (string, error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return a, nil
		}
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if slices.Contains(valueFlags, name) {
			i++ // its value
		}
	}
	return "", errors.New("the drsctl command line names no command")
}

func (c *checker) needSecret(where, ns, name, key string, optional *bool) {
	if optional != nil && *optional {
		c.errorf("%s: Secret %s is optional: drsctl would start without its credentials; drop optional", where, name)
	}
	for _, s := range c.secrets {
		if s.obj.Name != name || s.obj.Namespace != ns {
			continue
		}
		if key == "" {
			return
		}
		if _, ok := s.obj.StringData[key]; ok {
			return
		}
		if _, ok := s.obj.Data[key]; ok {
			return
		}
		c.errorf("%s: Secret %s/%s has no key %s", where, ns, name, key)
		return
	}
	c.errorf("%s: Secret %s/%s is not among the manifests", where, ns, name)
}

func (c *checker) needConfigMap(where, ns, name, key string, optional *bool) {
	if optional != nil && *optional {
		c.errorf("%s: ConfigMap %s is optional: drsctl would start without its configuration; drop optional", where, name)
	}
	for _, m := range c.configMaps {
		if m.obj.Name != name || m.obj.Namespace != ns {
			continue
		}
		if key == "" {
			return
		}
		if _, ok := m.obj.Data[key]; ok {
			return
		}
		if _, ok := m.obj.BinaryData[key]; ok {
			return
		}
		c.errorf("%s: ConfigMap %s/%s has no key %s", where, ns, name, key)
		return
	}
	c.errorf("%s: ConfigMap %s/%s is not among the manifests", where, ns, name)
}
