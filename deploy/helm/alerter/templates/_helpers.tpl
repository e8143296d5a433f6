{{/* Names and labels shared by every object of the release. */}}
{{- define "alerter.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "alerter.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "alerter.labels" -}}
{{ include "alerter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "alerter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "alerter.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
alerter.yaml: the user's `config` plus the keys that follow from the pod (volume paths, port,
in-cluster credentials, the Lease in the release namespace that the chart's Role grants).
*/}}
{{- define "alerter.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- include "alerter.checkSecrets" (dict "path" "config" "value" $cfg "env" (default dict .Values.secretEnv)) -}}
{{- if not $cfg.prometheus -}}
{{- fail "config.prometheus.url is required (the Prometheus-compatible query API alerter reads)" -}}
{{- end -}}
{{- if not (include "alerter.ruleFiles" . | fromYaml) -}}
{{- fail "no rule file to load: name at least one of rulePacks, or give rules of your own (name: text)" -}}
{{- end -}}
{{- range $key := list "rule_files" "cluster" -}}
{{- if hasKey $cfg $key -}}
{{- fail (printf "config.%s is set by the chart from the pod's volumes; put rule files in `rules`" $key) -}}
{{- end -}}
{{- end -}}
{{- if hasKey $cfg "storage" -}}
{{- fail "config.storage is set by the chart: SQLite on the state volume, or PostgreSQL from the values of storage.postgres" -}}
{{- end -}}
{{- if and $cfg.server (hasKey $cfg.server "listen") -}}
{{- fail "config.server.listen is set by the chart from service.port" -}}
{{- end -}}
{{- $_ := set $cfg "rule_files" (list "../alerter-rules/*.yaml") -}}
{{- $_ := set $cfg "storage" (include "alerter.storage" . | fromJson) -}}
{{- $server := deepCopy (default dict $cfg.server) -}}
{{- $_ := set $server "listen" (printf "0.0.0.0:%d" (int .Values.service.port)) -}}
{{- $_ := set $cfg "server" $server -}}
{{- $remediation := deepCopy (default dict $cfg.remediation) -}}
{{- $lease := deepCopy (default dict $remediation.lease) -}}
{{- $_ := set $lease "namespace" .Release.Namespace -}}
{{- $_ := set $lease "name" .Values.rbac.leaseName -}}
{{- $_ := set $remediation "lease" $lease -}}
{{- $_ := set $remediation "kubernetes" (dict "in_cluster" true) -}}
{{- $_ := set $cfg "remediation" $remediation -}}
{{- with .Values.cluster -}}
{{- if .enabled -}}
{{- $cluster := dict "enabled" true "name" (include "alerter.fullname" $) "namespace" $.Release.Namespace "replica_id_env" "POD_NAME" "kubernetes" (dict "in_cluster" true) -}}
{{- $_ := set $cluster "lease_duration" (default "15s" .leaseDuration) -}}
{{- $_ := set $cluster "renew_period" (default "5s" .renewPeriod) -}}
{{- $_ := set $cfg "cluster" $cluster -}}
{{- end -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* Where the Secrets of storage.postgres are mounted, one file per key. */}}
{{- define "alerter.postgresMount" -}}/etc/alerter-postgres{{- end -}}

{{/*
The files of storage.postgres's Secrets, as JSON [{secret, key, path}]: the connection string
(dsn), the password, the CA. The Deployment mounts them; config.storage names them.
*/}}
{{- define "alerter.postgresFiles" -}}
{{- $pg := .Values.storage.postgres -}}
{{- $files := list -}}
{{- if $pg.enabled -}}
{{- range $field, $path := dict "dsnSecret" "dsn" "passwordSecret" "password" "caSecret" "ca.crt" -}}
{{- $ref := get $pg $field | default dict -}}
{{- if $ref.name -}}
{{- $files = append $files (dict "secret" $ref.name "key" (required (printf "storage.postgres.%s.key is required with its name" $field) $ref.key) "path" $path) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $files -}}
{{- end -}}

{{/*
config.storage as JSON: SQLite on the state volume, or the PostgreSQL database of
storage.postgres, its secrets read from the files of alerter.postgresFiles (never inline).
*/}}
{{- define "alerter.storage" -}}
{{- $pg := .Values.storage.postgres -}}
{{- if not $pg.enabled -}}
{{- toJson (dict "path" "/var/lib/alerter/state.db") -}}
{{- else -}}
{{- $mount := include "alerter.postgresMount" . -}}
{{- $out := dict -}}
{{- if $pg.dsnSecret.name -}}
{{- if $pg.host -}}
{{- fail "storage.postgres: give dsnSecret (a whole connection string) or host, port, dbname, user and passwordSecret, not both" -}}
{{- end -}}
{{- $_ := set $out "dsn_file" (printf "%s/dsn" $mount) -}}
{{- else -}}
{{- if not $pg.host -}}
{{- fail "storage.postgres.host is required (the database server, e.g. postgres.db.svc), or storage.postgres.dsnSecret.name for a whole connection string from a Secret" -}}
{{- end -}}
{{- $_ := set $out "host" $pg.host -}}
{{- $_ := set $out "port" (int $pg.port) -}}
{{- $_ := set $out "dbname" $pg.dbname -}}
{{- $_ := set $out "user" $pg.user -}}
{{- if $pg.passwordSecret.name -}}
{{- $_ := set $out "password_file" (printf "%s/password" $mount) -}}
{{- end -}}
{{- end -}}
{{- with $pg.sslmode -}}
{{- $_ := set $out "sslmode" . -}}
{{- end -}}
{{- if $pg.caSecret.name -}}
{{- $_ := set $out "ca_file" (printf "%s/ca.crt" $mount) -}}
{{- end -}}
{{- toJson (dict "postgres" $out) -}}
{{- end -}}
{{- end -}}

{{/*
Refuses a secret written into `config`, which the chart would render into a ConfigMap that anyone
allowed to read ConfigMaps can read. Walks every map and list under `path`; `env` is secretEnv.
The keys are the engine's (INLINE_SECRET_KEYS in alerter/config/engine.py). Every `*_env` field
must name a variable secretEnv fills: the pod has no other environment.
*/}}
{{- define "alerter.checkSecrets" -}}
{{- $inline := dict "token" "token_env" "bearer_token" "bearer_token_env" "password" "password_env" "webhook_url" "webhook_url_env" "signing_secret" "signing_secret_env" "hmac_secret" "hmac_secret_env" "api_key" "an *_env field" "secret" "an *_env field" "dsn" "dsn_env" -}}
{{- if kindIs "map" .value -}}
{{- range $key, $v := .value -}}
{{- $path := printf "%s.%s" $.path $key -}}
{{- if hasKey $inline $key -}}
{{- fail (printf "%s: secrets must not be written inline in values (they would be stored in a ConfigMap); keep it in a Secret, set %s to the name of an environment variable and fill that variable from the Secret with secretEnv (NAME: {secret: <Secret>, key: <key>})" $path (get $inline $key)) -}}
{{- end -}}
{{- if and (hasSuffix "_env" $key) (not (kindIs "invalid" $v)) (not (hasKey $.env (toString $v))) -}}
{{- fail (printf "%s names the environment variable %s, which secretEnv does not fill: add secretEnv.%s: {secret: <Secret>, key: <key>}" $path (toString $v) (toString $v)) -}}
{{- end -}}
{{- include "alerter.checkSecrets" (dict "path" $path "value" $v "env" $.env) -}}
{{- end -}}
{{- else if kindIs "slice" .value -}}
{{- range $i, $v := .value -}}
{{- include "alerter.checkSecrets" (dict "path" (printf "%s[%d]" $.path $i) "value" $v "env" $.env) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
What remediation may do, as JSON {namespace: {resource: {verb: [names]}}}: exactly the calls the
policies make in their modes, on the objects they name, in the namespaces of
remediation.allow_namespaces. Policies in mode `off` get nothing; `dry-run` only plans, so it
reads; `approve` and `auto` also write. Scaling goes through the scale subresource: a Deployment
is patched only by the rollout restart of a configmap policy. The HPA and the ScaledObject that
may own a scaled Deployment are granted by the Deployment's own name, unless rbac.autoscalers
names the owner of that Deployment (then only the owners it names).
"list" cannot be limited by name (its names are ignored). The RBAC template grants exactly these.
*/}}
{{- define "alerter.remediationGrants" -}}
{{- $allowed := list -}}
{{- if .Values.config.remediation -}}
{{- $allowed = default list .Values.config.remediation.allow_namespaces -}}
{{- end -}}
{{- $autoscalers := default dict .Values.rbac.autoscalers -}}
{{- $wants := list -}}
{{- range $policy := default list .Values.config.policies -}}
{{- $mode := default "dry-run" $policy.mode -}}
{{- $writes := has $mode (list "approve" "auto") -}}
{{- if ne $mode "off" -}}
{{- if $policy.scale -}}
{{- $ref := $policy.scale.deployment -}}
{{- $ns := first (splitList "/" $ref) -}}
{{- $wants = concat $wants (list (list "deployments" "get" $ref) (list "deployments/scale" "get" $ref) (list "horizontalpodautoscalers" "list" $ref) (list "scaledobjects" "list" $ref)) -}}
{{- if $writes -}}
{{- $wants = append $wants (list "deployments/scale" "patch" $ref) -}}
{{- $own := last (splitList "/" $ref) -}}
{{- $owners := get $autoscalers $ref | default (dict "horizontalpodautoscaler" $own "scaledobject" $own) -}}
{{- range $kind, $owner := $owners -}}
{{- $wants = concat $wants (list (list (printf "%ss" $kind) "get" (printf "%s/%s" $ns $owner)) (list (printf "%ss" $kind) "patch" (printf "%s/%s" $ns $owner))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $policy.route -}}
{{- $wants = append $wants (list "httproutes" "get" $policy.route.httproute) -}}
{{- if $writes -}}
{{- $wants = append $wants (list "httproutes" "patch" $policy.route.httproute) -}}
{{- end -}}
{{- end -}}
{{- if $policy.configmap -}}
{{- $wants = append $wants (list "configmaps" "get" $policy.configmap.configmap) -}}
{{- if $writes -}}
{{- $wants = append $wants (list "configmaps" "patch" $policy.configmap.configmap) -}}
{{- if $policy.configmap.restart -}}
{{- $wants = append $wants (list "deployments" "patch" $policy.configmap.restart) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $grants := dict -}}
{{- range $want := $wants -}}
{{- $parts := splitList "/" (index $want 2) -}}
{{- $ns := first $parts -}}
{{- if has $ns $allowed -}}
{{- $resources := get $grants $ns | default dict -}}
{{- $verbs := get $resources (index $want 0) | default dict -}}
{{- $names := get $verbs (index $want 1) | default list -}}
{{- $_ := set $verbs (index $want 1) (append $names (last $parts) | uniq | sortAlpha) -}}
{{- $_ := set $resources (index $want 0) $verbs -}}
{{- $_ := set $grants $ns $resources -}}
{{- end -}}
{{- end -}}
{{- toJson $grants -}}
{{- end -}}

{{/*
The rule packs of `rulePacks` (files/rules/, copies of the repository's rules/) and the user's
`rules`, as a YAML map of file name to text: a user file named like a pack's replaces it, and a
null drops it.
*/}}
{{- define "alerter.rulePacks" -}}
vllm: [vllm-latency.yaml, vllm-capacity.yaml]
litellm: [gateway-errors.yaml, gateway-latency.yaml, spend.yaml]
tgi: [tgi.yaml]
sglang: [sglang.yaml]
otel-genai: [otel-genai.yaml]
unified: [unified-llm.yaml]
{{- end -}}

{{- define "alerter.ruleFiles" -}}
{{- $packs := include "alerter.rulePacks" . | fromYaml -}}
{{- $files := dict -}}
{{- range $pack := default list .Values.rulePacks -}}
{{- if not (hasKey $packs $pack) -}}
{{- fail (printf "rulePacks: no pack %q; choose from %s" $pack (keys $packs | sortAlpha | join ", ")) -}}
{{- end -}}
{{- range $file := index $packs $pack -}}
{{- $_ := set $files $file ($.Files.Get (printf "files/rules/%s" $file)) -}}
{{- end -}}
{{- end -}}
{{- range $name, $text := default dict .Values.rules -}}
{{- if kindIs "invalid" $text -}}
{{- $_ := unset $files $name -}}
{{- else -}}
{{- $_ := set $files $name $text -}}
{{- end -}}
{{- end -}}
{{- if $files -}}
{{- toYaml $files -}}
{{- end -}}
{{- end -}}
