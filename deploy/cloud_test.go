package deploy

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rightsize/rightsize/internal/app"
	"github.com/rightsize/rightsize/internal/app/apptest"
	"github.com/rightsize/rightsize/internal/platform/config"
)

// The cloud deployment files (deploy/cloudrun, deploy/ecs, deploy/azure)
// are checked against the program itself: each container's command and
// environment must start the binary in production (app.Check), name only
// variables the program reads, take every secret from the platform's secret
// store, run the one image, listen where the program listens, be probed on
// the routes the program serves, get longer from the platform to stop than
// the program allows itself, scale, and sit behind path rules that send
// every route the program registers to the service that registers it.
//
// Nothing here talks to a cloud: the files are parsed with real YAML and
// JSON parsers into structs that refuse unknown fields, so a misspelt key
// fails too.

// image is the one placeholder every container runs, filled in at deploy
// time (envsubst) with REGISTRY/rightsize:TAG.
const image = "${IMAGE}"

// apps are the long-running processes each platform runs, one file each,
// named for what they run; roles adds the migrate job.
var (
	apps  = []string{"auth", "billing", "api", "worker"}
	roles = append(slices.Clone(apps), "migrate")
)

// cloudRunGrace is Cloud Run's fixed time from SIGTERM to SIGKILL.
const cloudRunGrace = 10 * time.Second

// A container is one process a platform file starts, in the terms the
// checks share.
type container struct {
	file  string // the file it comes from, for messages
	image string
	args  []string // after the entrypoint (/rightsize)
	plain map[string]string
	// secrets maps a variable to where the secret store holds it.
	secrets map[string]string
	// port is the port the platform sends traffic and probes to; 0 for the
	// migrate job.
	port   int
	probes []probe
	// grace is how long the platform waits from SIGTERM to SIGKILL.
	grace time.Duration
}

// A probe is a health check the platform runs: kind says what it gates
// (startup, readiness, liveness), path what it asks for.
type probe struct {
	kind string
	path string
	port int
}

// role names what a container runs: a service (auth, billing, api),
// worker or migrate.
func (c container) role() string {
	switch {
	case len(c.args) >= 1 && c.args[0] == "worker":
		return "worker"
	case len(c.args) >= 1 && c.args[0] == "migrate":
		return "migrate"
	}
	for i, a := range c.args {
		if a == "--services" && i+1 < len(c.args) {
			return c.args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--services="); ok {
			return v
		}
	}
	return "serve"
}

// env returns the environment the container gets, placeholders filled in
// with stand-ins and each secret with a strong stand-in value.
func (c container) env() map[string]string {
	env := map[string]string{}
	for k, v := range c.plain {
		env[k] = render(v)
	}
	for k := range c.secrets {
		env[k] = secretStandIn(k)
	}
	return env
}

var placeholder = regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*)\}`)

// standIns are values for the placeholders that end up in a variable the
// program validates; any other placeholder gets a name-shaped stand-in.
var standIns = map[string]string{
	"DOMAIN":           "app.example.com",
	"MAIL_FROM":        "Rightsize <noreply@example.com>",
	"STRIPE_PRICE_PRO": "price_1QstandIn",
	"VPC_CIDR":         "10.0.0.0/16",
}

// render fills in the ${NAME} placeholders of s as envsubst would.
func render(s string) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		name := placeholder.FindStringSubmatch(m)[1]
		if v, ok := standIns[name]; ok {
			return v
		}
		return "standin-" + strings.ToLower(name)
	})
}

// secretStandIn returns a value for secret variable name as strong as the
// production checks want (random, of the right shape).
func secretStandIn(name string) string {
	read := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b) // never fails: crypto/rand crashes the program instead
		return b
	}
	random := func(n int) string { return base64.StdEncoding.EncodeToString(read(n)) }
	hex := func(n int) string { return fmt.Sprintf("%x", read(n)) }
	switch name {
	case "DATABASE_URL":
		return "postgres://rightsize:" + hex(16) + "@db.internal:5432/rightsize?sslmode=require"
	case "SMTP_URL":
		return "smtps://rightsize:" + hex(16) + "@smtp.example.com:465"
	case "CURSOR_SECRET":
		return random(48)
	case "AUTH_SIGNING_KEY":
		return random(32)
	case "STRIPE_SECRET_KEY":
		return "sk_live_" + hex(24)
	case "STRIPE_WEBHOOK_SECRET":
		return "whsec_" + hex(24)
	}
	return random(32)
}

// decodeYAML decodes the YAML file at path into v, refusing fields v does
// not model.
func decodeYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := dec.Decode(new(any)); err != io.EOF {
		t.Fatalf("%s: want one YAML document, got more (%v)", path, err)
	}
}

// decodeJSON decodes the JSON file at path into v, refusing fields v does
// not model.
func decodeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if dec.More() {
		t.Fatalf("%s: trailing data after the JSON value", path)
	}
	// encoding/json matches field names case-insensitively, the AWS CLI
	// does not: every key written must come back, spelt the same, when v
	// is encoded again.
	var written, known any
	if err := json.Unmarshal(b, &written); err != nil {
		t.Fatal(err)
	}
	again, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(again, &known); err != nil {
		t.Fatal(err)
	}
	sameKeys(t, path, "", written, known)
}

// sameKeys reports each object key of written that known lacks.
func sameKeys(t *testing.T, file, at string, written, known any) {
	t.Helper()
	switch w := written.(type) {
	case map[string]any:
		k, _ := known.(map[string]any)
		for key, wv := range w {
			kv, ok := k[key]
			if !ok {
				t.Errorf("%s: unknown field %s%s (names are case-sensitive)", file, at, key)
				continue
			}
			sameKeys(t, file, at+key+".", wv, kv)
		}
	case []any:
		k, _ := known.([]any)
		for i, wv := range w {
			if i < len(k) {
				sameKeys(t, file, fmt.Sprintf("%s%d.", at, i), wv, k[i])
			}
		}
	}
}

func atoi(t *testing.T, file, what, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Errorf("%s: %s: %q is not an integer", file, what, s)
	}
	return n
}

// ---- Cloud Run ----

type knEnv struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef *struct {
			Name string `yaml:"name"`
			Key  string `yaml:"key"`
		} `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

// httpProbe is a Kubernetes-style probe, as Cloud Run and Container Apps
// both write it.
type httpProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port int    `yaml:"port"`
	} `yaml:"httpGet"`
	InitialDelaySeconds int `yaml:"initialDelaySeconds"`
	PeriodSeconds       int `yaml:"periodSeconds"`
	TimeoutSeconds      int `yaml:"timeoutSeconds"`
	FailureThreshold    int `yaml:"failureThreshold"`
}

// appendTo appends p as a probe of kind to probes, failing the test if it
// is not an HTTP GET.
func (p *httpProbe) appendTo(t *testing.T, file, kind string, probes []probe) []probe {
	t.Helper()
	if p.HTTPGet == nil {
		t.Errorf("%s: %s probe is not an HTTP GET", file, kind)
		return probes
	}
	return append(probes, probe{kind: kind, path: p.HTTPGet.Path, port: p.HTTPGet.Port})
}

type knContainer struct {
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env       []knEnv `yaml:"env"`
	Resources struct {
		Limits map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	StartupProbe  *httpProbe `yaml:"startupProbe"`
	LivenessProbe *httpProbe `yaml:"livenessProbe"`
}

type knMeta struct {
	Name        string            `yaml:"name"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// cloudRunService is a Knative-style service, as `gcloud run services
// replace` takes it.
type cloudRunService struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   knMeta `yaml:"metadata"`
	Spec       struct {
		Template struct {
			Metadata knMeta `yaml:"metadata"`
			Spec     struct {
				ServiceAccountName   string        `yaml:"serviceAccountName"`
				ContainerConcurrency int           `yaml:"containerConcurrency"`
				TimeoutSeconds       int           `yaml:"timeoutSeconds"`
				Containers           []knContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// cloudRunJob is a Cloud Run job, as `gcloud run jobs replace` takes it.
type cloudRunJob struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   knMeta `yaml:"metadata"`
	Spec       struct {
		Template struct {
			Metadata knMeta `yaml:"metadata"`
			Spec     struct {
				Parallelism int `yaml:"parallelism"`
				TaskCount   int `yaml:"taskCount"`
				Template    struct {
					Spec struct {
						ServiceAccountName string        `yaml:"serviceAccountName"`
						MaxRetries         int           `yaml:"maxRetries"`
						TimeoutSeconds     int           `yaml:"timeoutSeconds"`
						Containers         []knContainer `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func knative(t *testing.T, file string, c knContainer) container {
	t.Helper()
	out := container{file: file, image: c.Image, args: c.Args, plain: map[string]string{}, secrets: map[string]string{}, grace: cloudRunGrace}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			out.secrets[e.Name] = e.ValueFrom.SecretKeyRef.Name + ":" + e.ValueFrom.SecretKeyRef.Key
		case e.ValueFrom != nil:
			t.Errorf("%s: %s comes from something other than Secret Manager", file, e.Name)
		default:
			out.plain[e.Name] = e.Value
		}
	}
	if len(c.Ports) == 1 {
		out.port = c.Ports[0].ContainerPort
	} else if len(c.Ports) > 1 {
		t.Errorf("%s: Cloud Run routes to one container port, got %d", file, len(c.Ports))
	}
	for kind, p := range map[string]*httpProbe{"startup": c.StartupProbe, "liveness": c.LivenessProbe} {
		if p != nil {
			out.probes = p.appendTo(t, file, kind, out.probes)
		}
	}
	return out
}

// cloudRun reads deploy/cloudrun: the containers, by service name (the
// name of its backend service in the URL map), and the services.
func cloudRun(t *testing.T) (map[string]container, map[string]cloudRunService) {
	t.Helper()
	containers, services := map[string]container{}, map[string]cloudRunService{}
	for _, name := range apps {
		file := filepath.Join("cloudrun", name+".yaml")
		var s cloudRunService
		decodeYAML(t, file, &s)
		if s.APIVersion != "serving.knative.dev/v1" || s.Kind != "Service" {
			t.Errorf("%s: got %s %s, want serving.knative.dev/v1 Service", file, s.APIVersion, s.Kind)
		}
		if n := len(s.Spec.Template.Spec.Containers); n != 1 {
			t.Fatalf("%s: got %d containers, want 1", file, n)
		}
		containers[s.Metadata.Name] = knative(t, file, s.Spec.Template.Spec.Containers[0])
		services[s.Metadata.Name] = s
	}
	file := filepath.Join("cloudrun", "migrate-job.yaml")
	var j cloudRunJob
	decodeYAML(t, file, &j)
	if j.APIVersion != "run.googleapis.com/v1" || j.Kind != "Job" {
		t.Errorf("%s: got %s %s, want run.googleapis.com/v1 Job", file, j.APIVersion, j.Kind)
	}
	if n := len(j.Spec.Template.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("%s: got %d containers, want 1", file, n)
	}
	containers[j.Metadata.Name] = knative(t, file, j.Spec.Template.Spec.Template.Spec.Containers[0])
	return containers, services
}

// urlMap is a URL map as `gcloud compute url-maps import` takes it.
type urlMap struct {
	Name           string `yaml:"name"`
	DefaultService string `yaml:"defaultService"`
	HostRules      []struct {
		Hosts       []string `yaml:"hosts"`
		PathMatcher string   `yaml:"pathMatcher"`
	} `yaml:"hostRules"`
	PathMatchers []struct {
		Name           string `yaml:"name"`
		DefaultService string `yaml:"defaultService"`
		PathRules      []struct {
			Paths   []string `yaml:"paths"`
			Service string   `yaml:"service"`
		} `yaml:"pathRules"`
	} `yaml:"pathMatchers"`
}

// ---- ECS ----

type ecsNameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type ecsTaskDefinition struct {
	Family                  string   `json:"family"`
	NetworkMode             string   `json:"networkMode"`
	RequiresCompatibilities []string `json:"requiresCompatibilities"`
	CPU                     string   `json:"cpu"`
	Memory                  string   `json:"memory"`
	RuntimePlatform         struct {
		CPUArchitecture       string `json:"cpuArchitecture"`
		OperatingSystemFamily string `json:"operatingSystemFamily"`
	} `json:"runtimePlatform"`
	ExecutionRoleArn     string `json:"executionRoleArn"`
	TaskRoleArn          string `json:"taskRoleArn"`
	ContainerDefinitions []struct {
		Name         string   `json:"name"`
		Image        string   `json:"image"`
		Essential    bool     `json:"essential"`
		Command      []string `json:"command"`
		PortMappings []struct {
			Name          string `json:"name"`
			ContainerPort int    `json:"containerPort"`
			Protocol      string `json:"protocol"`
			AppProtocol   string `json:"appProtocol"`
		} `json:"portMappings"`
		Environment []ecsNameValue `json:"environment"`
		Secrets     []struct {
			Name      string `json:"name"`
			ValueFrom string `json:"valueFrom"`
		} `json:"secrets"`
		HealthCheck *struct {
			Command     []string `json:"command"`
			Interval    int      `json:"interval"`
			Timeout     int      `json:"timeout"`
			Retries     int      `json:"retries"`
			StartPeriod int      `json:"startPeriod"`
		} `json:"healthCheck"`
		StopTimeout      int `json:"stopTimeout"`
		LogConfiguration struct {
			LogDriver string            `json:"logDriver"`
			Options   map[string]string `json:"options"`
		} `json:"logConfiguration"`
	} `json:"containerDefinitions"`
}

type ecsService struct {
	Cluster              string `json:"cluster"`
	ServiceName          string `json:"serviceName"`
	TaskDefinition       string `json:"taskDefinition"`
	DesiredCount         int    `json:"desiredCount"`
	LaunchType           string `json:"launchType"`
	PlatformVersion      string `json:"platformVersion"`
	NetworkConfiguration struct {
		AwsvpcConfiguration struct {
			Subnets        []string `json:"subnets"`
			SecurityGroups []string `json:"securityGroups"`
			AssignPublicIP string   `json:"assignPublicIp"`
		} `json:"awsvpcConfiguration"`
	} `json:"networkConfiguration"`
	LoadBalancers []struct {
		TargetGroupArn string `json:"targetGroupArn"`
		ContainerName  string `json:"containerName"`
		ContainerPort  int    `json:"containerPort"`
	} `json:"loadBalancers"`
	HealthCheckGracePeriodSeconds int `json:"healthCheckGracePeriodSeconds"`
	DeploymentConfiguration       struct {
		MinimumHealthyPercent    int `json:"minimumHealthyPercent"`
		MaximumPercent           int `json:"maximumPercent"`
		DeploymentCircuitBreaker struct {
			Enable   bool `json:"enable"`
			Rollback bool `json:"rollback"`
		} `json:"deploymentCircuitBreaker"`
	} `json:"deploymentConfiguration"`
	PropagateTags        string `json:"propagateTags"`
	EnableECSManagedTags bool   `json:"enableECSManagedTags"`
}

// ecsTargetGroup is one `aws elbv2 create-target-group --cli-input-json`.
type ecsTargetGroup struct {
	Name                       string `json:"Name"`
	Protocol                   string `json:"Protocol"`
	ProtocolVersion            string `json:"ProtocolVersion"`
	Port                       int    `json:"Port"`
	VpcID                      string `json:"VpcId"`
	TargetType                 string `json:"TargetType"`
	HealthCheckEnabled         bool   `json:"HealthCheckEnabled"`
	HealthCheckProtocol        string `json:"HealthCheckProtocol"`
	HealthCheckPort            string `json:"HealthCheckPort"`
	HealthCheckPath            string `json:"HealthCheckPath"`
	HealthCheckIntervalSeconds int    `json:"HealthCheckIntervalSeconds"`
	HealthCheckTimeoutSeconds  int    `json:"HealthCheckTimeoutSeconds"`
	HealthyThresholdCount      int    `json:"HealthyThresholdCount"`
	UnhealthyThresholdCount    int    `json:"UnhealthyThresholdCount"`
	Matcher                    struct {
		HTTPCode string `json:"HttpCode"`
	} `json:"Matcher"`
}

type ecsAction struct {
	Type           string `json:"Type"`
	TargetGroupArn string `json:"TargetGroupArn"`
}

// ecsListener is `aws elbv2 create-listener --cli-input-json`.
type ecsListener struct {
	LoadBalancerArn string `json:"LoadBalancerArn"`
	Protocol        string `json:"Protocol"`
	Port            int    `json:"Port"`
	SslPolicy       string `json:"SslPolicy"`
	Certificates    []struct {
		CertificateArn string `json:"CertificateArn"`
	} `json:"Certificates"`
	DefaultActions []ecsAction `json:"DefaultActions"`
}

// ecsRule is one `aws elbv2 create-rule --cli-input-json`.
type ecsRule struct {
	ListenerArn string `json:"ListenerArn"`
	Priority    int    `json:"Priority"`
	Conditions  []struct {
		Field             string `json:"Field"`
		PathPatternConfig struct {
			Values []string `json:"Values"`
		} `json:"PathPatternConfig"`
	} `json:"Conditions"`
	Actions []ecsAction `json:"Actions"`
}

// ecsScaling holds the inputs of `aws application-autoscaling
// register-scalable-target` and `put-scaling-policy`.
type ecsScaling struct {
	ScalableTargets []struct {
		ServiceNamespace  string `json:"ServiceNamespace"`
		ResourceID        string `json:"ResourceId"`
		ScalableDimension string `json:"ScalableDimension"`
		MinCapacity       int    `json:"MinCapacity"`
		MaxCapacity       int    `json:"MaxCapacity"`
	} `json:"ScalableTargets"`
	ScalingPolicies []struct {
		PolicyName                               string `json:"PolicyName"`
		ServiceNamespace                         string `json:"ServiceNamespace"`
		ResourceID                               string `json:"ResourceId"`
		ScalableDimension                        string `json:"ScalableDimension"`
		PolicyType                               string `json:"PolicyType"`
		TargetTrackingScalingPolicyConfiguration struct {
			TargetValue                   float64 `json:"TargetValue"`
			PredefinedMetricSpecification struct {
				PredefinedMetricType string `json:"PredefinedMetricType"`
				ResourceLabel        string `json:"ResourceLabel"`
			} `json:"PredefinedMetricSpecification"`
			ScaleOutCooldown int `json:"ScaleOutCooldown"`
			ScaleInCooldown  int `json:"ScaleInCooldown"`
		} `json:"TargetTrackingScalingPolicyConfiguration"`
	} `json:"ScalingPolicies"`
}

// ecs reads deploy/ecs: the containers and task definitions by family.
func ecs(t *testing.T) (map[string]container, map[string]ecsTaskDefinition) {
	t.Helper()
	containers, tasks := map[string]container{}, map[string]ecsTaskDefinition{}
	for _, name := range roles {
		file := filepath.Join("ecs", "task-"+name+".json")
		var td ecsTaskDefinition
		decodeJSON(t, file, &td)
		if len(td.ContainerDefinitions) != 1 {
			t.Fatalf("%s: got %d containers, want 1", file, len(td.ContainerDefinitions))
		}
		if !slices.Equal(td.RequiresCompatibilities, []string{"FARGATE"}) || td.NetworkMode != "awsvpc" {
			t.Errorf("%s: want FARGATE on awsvpc, got %v on %q", file, td.RequiresCompatibilities, td.NetworkMode)
		}
		cd := td.ContainerDefinitions[0]
		c := container{file: file, image: cd.Image, args: cd.Command, plain: map[string]string{}, secrets: map[string]string{},
			grace: time.Duration(cd.StopTimeout) * time.Second}
		if cd.StopTimeout == 0 {
			c.grace = 30 * time.Second // ECS's default
		}
		if cd.StopTimeout > 120 {
			t.Errorf("%s: stopTimeout %d: Fargate allows at most 120", file, cd.StopTimeout)
		}
		for _, e := range cd.Environment {
			c.plain[e.Name] = e.Value
		}
		for _, s := range cd.Secrets {
			if !strings.HasPrefix(s.ValueFrom, "arn:aws:ssm:") && !strings.HasPrefix(s.ValueFrom, "arn:aws:secretsmanager:") {
				t.Errorf("%s: secret %s from %q, want an SSM or Secrets Manager ARN", file, s.Name, s.ValueFrom)
			}
			c.secrets[s.Name] = s.ValueFrom
		}
		if len(cd.PortMappings) == 1 {
			c.port = cd.PortMappings[0].ContainerPort
		} else if len(cd.PortMappings) > 1 {
			t.Errorf("%s: want one port mapping, got %d", file, len(cd.PortMappings))
		}
		if cd.HealthCheck != nil {
			c.probes = append(c.probes, probe{kind: "container", path: healthcheckPath(t, file, cd.HealthCheck.Command), port: c.port})
		}
		if cd.LogConfiguration.LogDriver != "awslogs" {
			t.Errorf("%s: log driver %q, want awslogs", file, cd.LogConfiguration.LogDriver)
		}
		containers[td.Family] = c
		tasks[td.Family] = td
	}
	return containers, tasks
}

// ecsServices reads deploy/ecs's services, by what they run (auth for
// service-auth.json).
func ecsServices(t *testing.T) map[string]ecsService {
	t.Helper()
	services := map[string]ecsService{}
	for _, name := range apps {
		var s ecsService
		decodeJSON(t, filepath.Join("ecs", "service-"+name+".json"), &s)
		services[name] = s
	}
	return services
}

// healthcheckPath returns the path an ECS health check command asks for:
// `rightsize healthcheck [/ready|/health]`, run in the shell-less image.
func healthcheckPath(t *testing.T, file string, cmd []string) string {
	t.Helper()
	if len(cmd) < 3 || cmd[0] != "CMD" || cmd[1] != "/rightsize" || cmd[2] != "healthcheck" || len(cmd) > 4 {
		t.Errorf(`%s: health check %q, want ["CMD", "/rightsize", "healthcheck"] (the image has no shell)`, file, cmd)
		return ""
	}
	if len(cmd) == 4 {
		return cmd[3]
	}
	return "/ready"
}

// ---- Azure Container Apps ----

type acaSecret struct {
	Name        string `yaml:"name"`
	KeyVaultURL string `yaml:"keyVaultUrl"`
	Identity    string `yaml:"identity"`
	Value       string `yaml:"value"`
}

type acaContainer struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		SecretRef string `yaml:"secretRef"`
	} `yaml:"env"`
	Resources struct {
		CPU    float64 `yaml:"cpu"`
		Memory string  `yaml:"memory"`
	} `yaml:"resources"`
	Probes []struct {
		Type      string `yaml:"type"`
		httpProbe `yaml:",inline"`
	} `yaml:"probes"`
}

type acaIdentity struct {
	Type                   string              `yaml:"type"`
	UserAssignedIdentities map[string]struct{} `yaml:"userAssignedIdentities"`
}

type acaRegistry struct {
	Server   string `yaml:"server"`
	Identity string `yaml:"identity"`
}

// acaApp is a container app, as `az containerapp create --yaml` takes it.
type acaApp struct {
	Name       string      `yaml:"name"`
	Location   string      `yaml:"location"`
	Type       string      `yaml:"type"`
	Identity   acaIdentity `yaml:"identity"`
	Properties struct {
		EnvironmentID string `yaml:"environmentId"`
		Configuration struct {
			ActiveRevisionsMode string `yaml:"activeRevisionsMode"`
			Ingress             *struct {
				External      bool   `yaml:"external"`
				TargetPort    int    `yaml:"targetPort"`
				Transport     string `yaml:"transport"`
				AllowInsecure bool   `yaml:"allowInsecure"`
			} `yaml:"ingress"`
			Registries []acaRegistry `yaml:"registries"`
			Secrets    []acaSecret   `yaml:"secrets"`
		} `yaml:"configuration"`
		Template struct {
			TerminationGracePeriodSeconds int            `yaml:"terminationGracePeriodSeconds"`
			Containers                    []acaContainer `yaml:"containers"`
			Scale                         *struct {
				MinReplicas *int `yaml:"minReplicas"`
				MaxReplicas int  `yaml:"maxReplicas"`
				Rules       []struct {
					Name string `yaml:"name"`
					HTTP *struct {
						Metadata map[string]string `yaml:"metadata"`
					} `yaml:"http"`
					Custom *struct {
						Type     string            `yaml:"type"`
						Metadata map[string]string `yaml:"metadata"`
					} `yaml:"custom"`
				} `yaml:"rules"`
			} `yaml:"scale"`
		} `yaml:"template"`
	} `yaml:"properties"`
}

// acaJob is a Container Apps job, as `az containerapp job create --yaml`
// takes it.
type acaJob struct {
	Name       string      `yaml:"name"`
	Location   string      `yaml:"location"`
	Type       string      `yaml:"type"`
	Identity   acaIdentity `yaml:"identity"`
	Properties struct {
		EnvironmentID string `yaml:"environmentId"`
		Configuration struct {
			TriggerType         string `yaml:"triggerType"`
			ReplicaTimeout      int    `yaml:"replicaTimeout"`
			ReplicaRetryLimit   int    `yaml:"replicaRetryLimit"`
			ManualTriggerConfig struct {
				Parallelism            int `yaml:"parallelism"`
				ReplicaCompletionCount int `yaml:"replicaCompletionCount"`
			} `yaml:"manualTriggerConfig"`
			Registries []acaRegistry `yaml:"registries"`
			Secrets    []acaSecret   `yaml:"secrets"`
		} `yaml:"configuration"`
		Template struct {
			Containers []acaContainer `yaml:"containers"`
		} `yaml:"template"`
	} `yaml:"properties"`
}

// acaRoutes is an environment's HTTP route config, as `az containerapp env
// http-route-config create --yaml` takes it.
type acaRoutes struct {
	CustomDomains []struct {
		Name          string `yaml:"name"`
		BindingType   string `yaml:"bindingType"`
		CertificateID string `yaml:"certificateId"`
	} `yaml:"customDomains"`
	Rules []struct {
		Description string `yaml:"description"`
		Routes      []struct {
			Match struct {
				Path                string `yaml:"path"`
				Prefix              string `yaml:"prefix"`
				PathSeparatedPrefix string `yaml:"pathSeparatedPrefix"`
			} `yaml:"match"`
		} `yaml:"routes"`
		Targets []struct {
			ContainerApp string `yaml:"containerApp"`
		} `yaml:"targets"`
	} `yaml:"rules"`
}

func containerApp(t *testing.T, file string, secrets []acaSecret, c acaContainer, grace int, port int) container {
	t.Helper()
	store := map[string]acaSecret{}
	for _, s := range secrets {
		store[s.Name] = s
	}
	out := container{file: file, image: c.Image, args: c.Args, plain: map[string]string{}, secrets: map[string]string{},
		grace: time.Duration(grace) * time.Second, port: port}
	if grace == 0 {
		out.grace = 30 * time.Second // Container Apps' default
	}
	for _, e := range c.Env {
		if e.SecretRef == "" {
			out.plain[e.Name] = e.Value
			continue
		}
		s, ok := store[e.SecretRef]
		switch {
		case !ok:
			t.Errorf("%s: %s refers to secret %q, which the app does not declare", file, e.Name, e.SecretRef)
		case s.KeyVaultURL == "" || s.Value != "":
			t.Errorf("%s: secret %q holds its value in the file; want a Key Vault reference", file, e.SecretRef)
		}
		out.secrets[e.Name] = s.KeyVaultURL
	}
	for _, p := range c.Probes {
		out.probes = p.appendTo(t, file, strings.ToLower(p.Type), out.probes)
	}
	return out
}

// azure reads deploy/azure: the containers by app name, and the apps by
// file name (auth for auth.yaml).
func azure(t *testing.T) (map[string]container, map[string]acaApp) {
	t.Helper()
	containers, byFile := map[string]container{}, map[string]acaApp{}
	for _, name := range apps {
		file := filepath.Join("azure", name+".yaml")
		var a acaApp
		decodeYAML(t, file, &a)
		if a.Type != "Microsoft.App/containerApps" {
			t.Errorf("%s: type %q, want Microsoft.App/containerApps", file, a.Type)
		}
		tpl := a.Properties.Template
		if len(tpl.Containers) != 1 {
			t.Fatalf("%s: got %d containers, want 1", file, len(tpl.Containers))
		}
		port := 0
		if in := a.Properties.Configuration.Ingress; in != nil {
			port = in.TargetPort
		} else {
			// No ingress (the worker): the probes still reach the port the
			// program listens on.
			for _, p := range tpl.Containers[0].Probes {
				if p.HTTPGet != nil {
					port = p.HTTPGet.Port
				}
			}
		}
		containers[a.Name] = containerApp(t, file, a.Properties.Configuration.Secrets, tpl.Containers[0], tpl.TerminationGracePeriodSeconds, port)
		byFile[name] = a
	}
	file := filepath.Join("azure", "migrate-job.yaml")
	var j acaJob
	decodeYAML(t, file, &j)
	if j.Type != "Microsoft.App/jobs" || j.Properties.Configuration.TriggerType != "Manual" {
		t.Errorf("%s: want a Microsoft.App/jobs with a Manual trigger, got %q, %q", file, j.Type, j.Properties.Configuration.TriggerType)
	}
	if len(j.Properties.Template.Containers) != 1 {
		t.Fatalf("%s: got %d containers, want 1", file, len(j.Properties.Template.Containers))
	}
	containers[j.Name] = containerApp(t, file, j.Properties.Configuration.Secrets, j.Properties.Template.Containers[0], 0, 0)
	return containers, byFile
}

// ---- the checks every platform shares ----

// checkContainers checks a platform's containers against the program: one
// of each role, each starts in production, each reads only real variables,
// secrets only from the store, one image, one port, probes on /health and
// /ready, a grace period above SHUTDOWN_TIMEOUT, and the same
// configuration in every process.
func checkContainers(t *testing.T, containers map[string]container) {
	t.Helper()
	vars := programVars()
	runBy := map[string]string{}
	var first *container
	for _, name := range slices.Sorted(maps.Keys(containers)) {
		c := containers[name]
		role := c.role()
		if prev, ok := runBy[role]; ok {
			t.Errorf("%s and %s both run %s", prev, c.file, role)
		}
		runBy[role] = c.file

		// The binary accepts the command and the environment in production.
		env := c.env()
		if env["ENV"] != "production" {
			t.Errorf("%s: ENV is %q, want production", c.file, env["ENV"])
		}
		args := append([]string{"rightsize"}, c.args...)
		if err := app.Check(args, func(k string) string { return env[k] }); err != nil {
			t.Errorf("%s: rightsize %s does not start in production: %v", c.file, strings.Join(c.args, " "), err)
		}

		for k := range c.plain {
			v, ok := vars[k]
			switch {
			case !ok:
				t.Errorf("%s: sets %s, which rightsize does not read (rightsize help env)", c.file, k)
			case v.Secret:
				t.Errorf("%s: sets secret %s as a plain value; take it from the secret store", c.file, k)
			}
		}
		for k := range c.secrets {
			if _, ok := vars[k]; !ok {
				t.Errorf("%s: sets %s from the secret store, but rightsize does not read it", c.file, k)
			}
			if _, ok := c.plain[k]; ok {
				t.Errorf("%s: sets %s twice, plain and from the secret store", c.file, k)
			}
		}
		// Every process gets every secret: the api process enforces the
		// plan limits and auth refuses to delete a subscribed account only
		// where billing (STRIPE_SECRET_KEY) is configured.
		for k, v := range vars {
			if _, ok := c.secrets[k]; v.Secret && !ok {
				t.Errorf("%s: secret %s is not set from the secret store", c.file, k)
			}
		}

		if c.image != image {
			t.Errorf("%s: image %q, want %q (one image, filled in at deploy time)", c.file, c.image, image)
		}

		port := vars["PORT"].Default
		if p, ok := env["PORT"]; ok {
			port = p
		}
		if role != "migrate" && strconv.Itoa(c.port) != port {
			t.Errorf("%s: the platform sends traffic to port %d; rightsize listens on PORT %s", c.file, c.port, port)
		}
		if role != "migrate" && len(c.probes) == 0 {
			t.Errorf("%s: no health probe", c.file)
		}
		for _, p := range c.probes {
			want := "/ready"
			if p.kind == "liveness" {
				want = "/health" // a liveness probe that fails while draining would kill the drain
			}
			if p.path != want {
				t.Errorf("%s: %s probe asks for %q, want %s", c.file, p.kind, p.path, want)
			}
			if p.port != 0 && strconv.Itoa(p.port) != port {
				t.Errorf("%s: %s probe on port %d; rightsize listens on PORT %s", c.file, p.kind, p.port, port)
			}
		}

		timeout, err := time.ParseDuration(cmp.Or(env["SHUTDOWN_TIMEOUT"], vars["SHUTDOWN_TIMEOUT"].Default))
		if err != nil {
			t.Fatalf("%s: SHUTDOWN_TIMEOUT: %v", c.file, err)
		}
		if c.grace <= timeout {
			t.Errorf("%s: the platform kills the process %s after SIGTERM, but SHUTDOWN_TIMEOUT is %s: in-flight requests would be cut", c.file, c.grace, timeout)
		}

		// One configuration everywhere: processes that disagree (a billing
		// key here, a cursor secret there) break each other's requests.
		if first == nil {
			first = &c
			continue
		}
		if !maps.Equal(c.plain, first.plain) {
			t.Errorf("%s and %s: the plain environment differs:\n%v\n%v", c.file, first.file, c.plain, first.plain)
		}
		if !maps.Equal(c.secrets, first.secrets) {
			t.Errorf("%s and %s: the secrets differ:\n%v\n%v", c.file, first.file, c.secrets, first.secrets)
		}
	}
	for _, role := range roles {
		if _, ok := runBy[role]; !ok {
			t.Errorf("no container runs %s", role)
		}
	}
	for role, file := range runBy {
		if !slices.Contains(roles, role) {
			t.Errorf("%s: runs %q; want serve --services one of auth, billing, api, or worker, or migrate up", file, role)
		}
	}
}

// programVars returns every variable rightsize reads, by name.
func programVars() map[string]config.Var {
	vars := map[string]config.Var{}
	for _, v := range app.Vars() {
		vars[v.Name] = v
	}
	return vars
}

// ---- routing ----

// programRoutes holds what routes learns from the program, once per test
// binary: the first test to ask starts rightsize (stopped when that test
// ends) and the others share its answer. A start that failed leaves it
// empty, for the next to try.
var programRoutes struct {
	sync.Mutex
	services, platform []app.Route
}

// routes returns every route rightsize registers (service "" for the
// platform's own, which every process serves), from the program itself.
func routes(t *testing.T) []app.Route {
	t.Helper()
	programRoutes.Lock()
	defer programRoutes.Unlock()
	if programRoutes.services == nil {
		s := apptest.Start(t, nil)
		programRoutes.services, programRoutes.platform = s.Routes, s.PlatformRoutes
	}
	if len(programRoutes.services) == 0 {
		t.Fatal("rightsize registers no route")
	}
	for _, r := range programRoutes.services {
		if r.Service == "" {
			t.Fatalf("route %s has no service", r.Pattern)
		}
	}
	return append(slices.Clone(programRoutes.services), programRoutes.platform...)
}

// samplePath returns a request path pattern matches: GET /v1/orders/{id}
// gives /v1/orders/x.
func samplePath(pattern string) string {
	_, p, _ := strings.Cut(pattern, " ")
	return regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(p, "x")
}

// A pathRule sends the paths it matches to a service.
type pathRule struct {
	pattern string // as written in the file, for messages
	match   func(path string) bool
	service string
}

// checkRouting checks that rules send every service's routes to that
// service and every platform route to some service (def when no rule
// matches; "" if the platform has no default), that no path matches two
// rules (so their order does not matter), and that each rule matches some
// route of its service.
func checkRouting(t *testing.T, file string, rules []pathRule, def string, routes []app.Route) {
	t.Helper()
	used := make([]bool, len(rules))
	for _, r := range routes {
		path := samplePath(r.Pattern)
		var got []string
		for i, rule := range rules {
			if rule.match(path) {
				got = append(got, rule.service)
				if r.Service == "" || r.Service == rule.service {
					used[i] = true
				}
			}
		}
		switch {
		case len(got) > 1:
			t.Errorf("%s: %s (%s) matches rules for %v; want one", file, path, r.Pattern, got)
		case len(got) == 0 && def == "":
			t.Errorf("%s: %s (%s) matches no rule: unrouted", file, path, r.Pattern)
		case len(got) == 0 && r.Service != "" && r.Service != def:
			t.Errorf("%s: %s (%s) of %s matches no rule, so it goes to the default, %s", file, path, r.Pattern, r.Service, def)
		case len(got) == 1 && r.Service != "" && got[0] != r.Service:
			t.Errorf("%s: %s (%s) of %s goes to %s", file, path, r.Pattern, r.Service, got[0])
		}
	}
	for i, rule := range rules {
		if !used[i] {
			t.Errorf("%s: rule %s for %s matches no route %s registers", file, rule.pattern, rule.service, rule.service)
		}
	}
}

// gcpPathMatch matches like a URL map path rule: exact, or with a trailing
// /* everything below the path.
func gcpPathMatch(t *testing.T, file, p string) func(string) bool {
	t.Helper()
	if !strings.HasPrefix(p, "/") || strings.Contains(strings.TrimSuffix(p, "/*"), "*") {
		t.Errorf("%s: path %q: a URL map path starts with / and has * only at the end, after /", file, p)
	}
	if prefix, ok := strings.CutSuffix(p, "*"); ok {
		return func(path string) bool { return strings.HasPrefix(path, prefix) }
	}
	return func(path string) bool { return path == p }
}

// albPathMatch matches like an ALB path-pattern condition value: * any
// characters, ? one, case-sensitive, the whole path.
func albPathMatch(p string) func(string) bool {
	quoted := regexp.QuoteMeta(p)
	quoted = strings.ReplaceAll(quoted, `\*`, ".*")
	quoted = strings.ReplaceAll(quoted, `\?`, ".")
	re := regexp.MustCompile("^" + quoted + "$")
	return re.MatchString
}

// acaPathMatch matches like an HTTP route config match: path exactly,
// prefix as a string prefix, pathSeparatedPrefix the path and below it.
func acaPathMatch(t *testing.T, file, path, prefix, sep string) (string, func(string) bool) {
	t.Helper()
	set := 0
	for _, v := range []string{path, prefix, sep} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		t.Errorf("%s: a match sets one of path, prefix, pathSeparatedPrefix; got %q %q %q", file, path, prefix, sep)
	}
	switch {
	case path != "":
		return path, func(p string) bool { return p == path }
	case prefix != "":
		return prefix + " (prefix)", func(p string) bool { return strings.HasPrefix(p, prefix) }
	}
	if strings.HasSuffix(sep, "/") {
		t.Errorf("%s: pathSeparatedPrefix %q must not end in /", file, sep)
	}
	return sep + " (pathSeparatedPrefix)", func(p string) bool { return p == sep || strings.HasPrefix(p, sep+"/") }
}

// ---- the tests ----

func TestCloudRun(t *testing.T) {
	t.Parallel()
	containers, services := cloudRun(t)
	checkContainers(t, containers)

	for name, s := range services {
		file := filepath.Join("cloudrun", strings.TrimPrefix(name, "rightsize-")+".yaml")
		c := containers[name]
		ann := s.Spec.Template.Metadata.Annotations
		lo := atoi(t, file, "minScale", ann["autoscaling.knative.dev/minScale"])
		hi := atoi(t, file, "maxScale", ann["autoscaling.knative.dev/maxScale"])
		if hi < 1 || lo > hi {
			t.Errorf("%s: autoscaling from %d to %d instances; want 0 <= min <= max, max >= 1", file, lo, hi)
		}
		if s.Spec.Template.Spec.ContainerConcurrency < 1 {
			t.Errorf("%s: containerConcurrency unset", file)
		}
		if ann["run.googleapis.com/cloudsql-instances"] == "" {
			t.Errorf("%s: no Cloud SQL instance: DATABASE_URL's socket would not exist", file)
		}
		ingress := s.Metadata.Annotations["run.googleapis.com/ingress"]
		if c.role() == "worker" {
			if ingress != "internal" {
				t.Errorf("%s: the worker's ingress is %q, want internal", file, ingress)
			}
			if ann["run.googleapis.com/cpu-throttling"] != "false" {
				t.Errorf(`%s: the worker needs run.googleapis.com/cpu-throttling: "false" to work jobs between requests`, file)
			}
			if lo < 1 {
				t.Errorf("%s: the worker scales to %d instances; want at least 1 always up", file, lo)
			}
		} else if ingress != "internal-and-cloud-load-balancing" {
			t.Errorf("%s: ingress %q, want internal-and-cloud-load-balancing (only through the load balancer)", file, ingress)
		}
	}
}

func TestCloudRunURLMap(t *testing.T) {
	t.Parallel()
	containers, _ := cloudRun(t)
	file := filepath.Join("cloudrun", "url-map.yaml")
	var m urlMap
	decodeYAML(t, file, &m)
	// A backend service is named for the Cloud Run service its serverless
	// NEG points at.
	backend := func(ref string) string {
		name := ref[strings.LastIndex(ref, "/")+1:]
		c, ok := containers[name]
		if !ok || !strings.Contains(ref, "/global/backendServices/") {
			t.Errorf("%s: %q is not the backend service of a Cloud Run service in deploy/cloudrun", file, ref)
			return ""
		}
		return c.role()
	}
	if len(m.HostRules) != 1 || len(m.PathMatchers) != 1 || m.HostRules[0].PathMatcher != m.PathMatchers[0].Name {
		t.Fatalf("%s: want one host rule using the one path matcher", file)
	}
	pm := m.PathMatchers[0]
	def := backend(pm.DefaultService)
	if m.DefaultService != pm.DefaultService {
		t.Errorf("%s: the map's default %q and the path matcher's %q differ", file, m.DefaultService, pm.DefaultService)
	}
	var rules []pathRule
	for _, r := range pm.PathRules {
		svc := backend(r.Service)
		if svc == "worker" {
			t.Errorf("%s: the worker has no public ingress; no path may route to it", file)
		}
		for _, p := range r.Paths {
			rules = append(rules, pathRule{pattern: p, match: gcpPathMatch(t, file, p), service: svc})
		}
	}
	checkRouting(t, file, rules, def, routes(t))
}

func TestECS(t *testing.T) {
	t.Parallel()
	containers, tasks := ecs(t)
	checkContainers(t, containers)

	var groups []ecsTargetGroup
	decodeJSON(t, filepath.Join("ecs", "target-groups.json"), &groups)
	groupByARN := map[string]ecsTargetGroup{}
	for _, g := range groups {
		// create-target-group is given this JSON: the ARN it returns is
		// exported as TG_<NAME>_ARN for the services and rules.
		arn := "${TG_" + strings.ToUpper(strings.TrimPrefix(g.Name, "rightsize-")) + "_ARN}"
		groupByARN[arn] = g
		if g.HealthCheckPath != "/ready" || g.Matcher.HTTPCode != "200" {
			t.Errorf("target group %s: health check %q expecting %q; want GET /ready answering 200", g.Name, g.HealthCheckPath, g.Matcher.HTTPCode)
		}
		if g.Port != 8080 || g.TargetType != "ip" || g.Protocol != "HTTP" {
			t.Errorf("target group %s: %s:%d to %s targets; want HTTP:8080 to ip targets (awsvpc)", g.Name, g.Protocol, g.Port, g.TargetType)
		}
	}

	var scaling ecsScaling
	decodeJSON(t, filepath.Join("ecs", "scaling.json"), &scaling)
	services := ecsServices(t)
	for _, name := range apps {
		file := filepath.Join("ecs", "service-"+name+".json")
		s := services[name]
		td, ok := tasks[s.TaskDefinition]
		if !ok {
			t.Errorf("%s: task definition %q is none of deploy/ecs/task-*.json", file, s.TaskDefinition)
			continue
		}
		c := containers[s.TaskDefinition]
		if c.role() != name {
			t.Errorf("%s: runs %s, want %s", file, c.role(), name)
		}
		switch {
		case name == "worker" && len(s.LoadBalancers) > 0:
			t.Errorf("%s: the worker has no public ingress; want no load balancer", file)
		case name != "worker" && len(s.LoadBalancers) != 1:
			t.Errorf("%s: want one target group, got %d", file, len(s.LoadBalancers))
		}
		for _, lb := range s.LoadBalancers {
			if _, ok := groupByARN[lb.TargetGroupArn]; !ok {
				t.Errorf("%s: target group %q is not in target-groups.json", file, lb.TargetGroupArn)
			}
			if lb.ContainerName != td.ContainerDefinitions[0].Name || lb.ContainerPort != c.port {
				t.Errorf("%s: routes to %s:%d; the task runs %s on %d", file, lb.ContainerName, lb.ContainerPort, td.ContainerDefinitions[0].Name, c.port)
			}
		}
		if !s.DeploymentConfiguration.DeploymentCircuitBreaker.Rollback {
			t.Errorf("%s: no circuit breaker rollback: a failing release would keep replacing tasks", file)
		}

		// Autoscaling: a scalable target and at least one policy for it.
		resource := "service/" + s.Cluster + "/" + s.ServiceName
		var targets, policies int
		for _, st := range scaling.ScalableTargets {
			if st.ResourceID != resource {
				continue
			}
			targets++
			if st.ServiceNamespace != "ecs" || st.ScalableDimension != "ecs:service:DesiredCount" || st.MinCapacity < 1 || st.MinCapacity > st.MaxCapacity {
				t.Errorf("scaling.json: %s scales %s from %d to %d; want ecs:service:DesiredCount, 1 <= min <= max", resource, st.ScalableDimension, st.MinCapacity, st.MaxCapacity)
			}
		}
		for _, p := range scaling.ScalingPolicies {
			if p.ResourceID == resource && p.PolicyType == "TargetTrackingScaling" && p.TargetTrackingScalingPolicyConfiguration.TargetValue > 0 {
				policies++
			}
		}
		if targets != 1 || policies == 0 {
			t.Errorf("scaling.json: %s has %d scalable targets and %d target tracking policies; want 1 and at least 1", resource, targets, policies)
		}
	}
	for _, p := range scaling.ScalingPolicies {
		m := p.TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification
		if m.PredefinedMetricType == "ALBRequestCountPerTarget" && m.ResourceLabel == "" {
			t.Errorf("scaling.json: %s: ALBRequestCountPerTarget needs the ResourceLabel of its target group", p.PolicyName)
		}
	}
}

func TestECSListenerRules(t *testing.T) {
	t.Parallel()
	containers, _ := ecs(t)
	// A target group serves the service whose ECS service registers it.
	serviceOf := map[string]string{}
	for _, s := range ecsServices(t) {
		for _, lb := range s.LoadBalancers {
			serviceOf[lb.TargetGroupArn] = containers[s.TaskDefinition].role()
		}
	}
	forward := func(file string, actions []ecsAction) string {
		if len(actions) != 1 || actions[0].Type != "forward" {
			t.Errorf("%s: want one forward action, got %+v", file, actions)
			return ""
		}
		svc, ok := serviceOf[actions[0].TargetGroupArn]
		if !ok {
			t.Errorf("%s: forwards to %q, the target group of no ECS service", file, actions[0].TargetGroupArn)
		}
		return svc
	}
	file := filepath.Join("ecs", "listener.json")
	var l ecsListener
	decodeJSON(t, file, &l)
	if l.Protocol != "HTTPS" || len(l.Certificates) == 0 {
		t.Errorf("%s: the listener is %s with %d certificates; want HTTPS with one", file, l.Protocol, len(l.Certificates))
	}
	def := forward(file, l.DefaultActions)

	file = filepath.Join("ecs", "listener-rules.json")
	var rules []ecsRule
	decodeJSON(t, file, &rules)
	var all []pathRule
	priorities := map[int]bool{}
	for _, r := range rules {
		if priorities[r.Priority] || r.Priority < 1 || r.Priority > 50000 {
			t.Errorf("%s: priority %d is taken or outside 1-50000", file, r.Priority)
		}
		priorities[r.Priority] = true
		svc := forward(file, r.Actions)
		if len(r.Conditions) != 1 || r.Conditions[0].Field != "path-pattern" {
			t.Errorf("%s: rule %d: want one path-pattern condition", file, r.Priority)
			continue
		}
		for _, p := range r.Conditions[0].PathPatternConfig.Values {
			all = append(all, pathRule{pattern: p, match: albPathMatch(p), service: svc})
		}
	}
	checkRouting(t, file, all, def, routes(t))
}

// The ECS container health check is the binary's own healthcheck command:
// run it, as the task would, against the real server.
func TestECSHealthCheckCommand(t *testing.T) {
	t.Parallel()
	_, tasks := ecs(t)
	s := apptest.Start(t, nil)
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	for family, td := range tasks {
		hc := td.ContainerDefinitions[0].HealthCheck
		if hc == nil {
			if family != "rightsize-migrate" {
				t.Errorf("%s: no container health check", family)
			}
			continue
		}
		if len(hc.Command) < 2 || hc.Command[1] != "/rightsize" {
			t.Errorf("%s: health check %q does not run /rightsize", family, hc.Command)
			continue
		}
		args := append([]string{"rightsize"}, hc.Command[2:]...)
		env := map[string]string{"PORT": u.Port()}
		var out bytes.Buffer
		if err := app.Run(context.Background(), args, func(k string) string { return env[k] }, nil, &out, &out); err != nil {
			t.Errorf("%s: health check %q against a running server: %v (%s)", family, hc.Command, err, out.String())
		}
	}
}

func TestAzureContainerApps(t *testing.T) {
	t.Parallel()
	containers, byFile := azure(t)
	checkContainers(t, containers)
	for _, name := range apps {
		file := filepath.Join("azure", name+".yaml")
		a := byFile[name]
		in := a.Properties.Configuration.Ingress
		switch {
		case name == "worker" && in != nil:
			t.Errorf("%s: the worker has no public ingress; want none", file)
		case name != "worker" && (in == nil || in.External):
			t.Errorf("%s: want internal ingress (external: false); the route config is the public entry", file)
		}
		sc := a.Properties.Template.Scale
		if sc == nil || sc.MinReplicas == nil || sc.MaxReplicas < 1 || *sc.MinReplicas > sc.MaxReplicas || len(sc.Rules) == 0 {
			t.Errorf("%s: want scale with minReplicas <= maxReplicas and a rule", file)
			continue
		}
		if name == "worker" && *sc.MinReplicas < 1 {
			t.Errorf("%s: the worker scales to zero; nothing would work jobs", file)
		}
		if name != "worker" {
			var http bool
			for _, r := range sc.Rules {
				if r.HTTP != nil && atoi(t, file, "concurrentRequests", r.HTTP.Metadata["concurrentRequests"]) > 0 {
					http = true
				}
			}
			if !http {
				t.Errorf("%s: no http scale rule on concurrent requests", file)
			}
		}
		mode := a.Properties.Configuration.ActiveRevisionsMode
		switch {
		case name == "worker" && mode != "Single":
			t.Errorf("%s: activeRevisionsMode %q; want Single, or old revisions go on working jobs", file, mode)
		case name != "worker" && mode != "Multiple":
			t.Errorf("%s: activeRevisionsMode %q; rolling back by revision traffic needs Multiple", file, mode)
		}
	}
}

func TestAzureRoutes(t *testing.T) {
	t.Parallel()
	containers, _ := azure(t)
	file := filepath.Join("azure", "routes.yaml")
	var rc acaRoutes
	decodeYAML(t, file, &rc)
	var rules []pathRule
	for _, r := range rc.Rules {
		if len(r.Targets) != 1 {
			t.Errorf("%s: rule %q: want one target, got %d", file, r.Description, len(r.Targets))
			continue
		}
		c, ok := containers[r.Targets[0].ContainerApp]
		if !ok {
			t.Errorf("%s: rule %q targets %q, no app in deploy/azure", file, r.Description, r.Targets[0].ContainerApp)
			continue
		}
		svc := c.role()
		if svc == "worker" {
			t.Errorf("%s: the worker has no public ingress; no path may route to it", file)
		}
		for _, rt := range r.Routes {
			m := rt.Match
			pattern, match := acaPathMatch(t, file, m.Path, m.Prefix, m.PathSeparatedPrefix)
			rules = append(rules, pathRule{pattern: pattern, match: match, service: svc})
		}
	}
	// No default: the route config answers 404 to what no rule matches, so
	// the platform's routes need rules of their own.
	checkRouting(t, file, rules, "", routes(t))
}

// Every ${NAME} the files leave to the operator is explained in the README,
// so a deploy cannot start with one nobody knew to set.
func TestPlaceholdersDocumented(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, dir := range []string{"cloudrun", "ecs", "azure"} {
		matches, err := filepath.Glob(filepath.Join(dir, "*"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, matches...)
	}
	seen := map[string][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range placeholder.FindAllStringSubmatch(string(b), -1) {
			if !slices.Contains(seen[m[1]], f) {
				seen[m[1]] = append(seen[m[1]], f)
			}
		}
	}
	if len(seen) == 0 {
		t.Fatal("no ${NAME} placeholder in deploy/cloudrun, deploy/ecs or deploy/azure")
	}
	for _, name := range slices.Sorted(maps.Keys(seen)) {
		if !bytes.Contains(readme, []byte("`${"+name+"}`")) {
			t.Errorf("%v use ${%s}, which README.md does not explain (as `${%s}`)", seen[name], name, name)
		}
	}
}
