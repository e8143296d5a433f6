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
{{- if not $cfg.prometheus -}}
{{- fail "config.prometheus.url is required (the Prometheus-compatible query API alerter reads)" -}}
{{- end -}}
{{- if not .Values.rules -}}
{{- fail "rules must hold at least one rule file (name: text)" -}}
{{- end -}}
{{- range $key := list "rule_files" "storage" -}}
{{- if hasKey $cfg $key -}}
{{- fail (printf "config.%s is set by the chart from the pod's volumes; put rule files in `rules`" $key) -}}
{{- end -}}
{{- end -}}
{{- if and $cfg.server (hasKey $cfg.server "listen") -}}
{{- fail "config.server.listen is set by the chart from service.port" -}}
{{- end -}}
{{- $_ := set $cfg "rule_files" (list "../alerter-rules/*.yaml") -}}
{{- $_ := set $cfg "storage" (dict "path" "/var/lib/alerter/state.db") -}}
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
{{- toYaml $cfg -}}
{{- end -}}

{{/*
What remediation may touch, as JSON {namespace: {scale: [...], deployments: [...],
httproutes: [...], configmaps: [...]}}: the objects named by policies that are not `off`, in the
namespaces of remediation.allow_namespaces. The RBAC template grants exactly these.
*/}}
{{- define "alerter.remediationTargets" -}}
{{- $allowed := list -}}
{{- if .Values.config.remediation -}}
{{- $allowed = default list .Values.config.remediation.allow_namespaces -}}
{{- end -}}
{{- $targets := dict -}}
{{- range $policy := default list .Values.config.policies -}}
{{- if ne (default "dry-run" $policy.mode) "off" -}}
{{- $refs := list -}}
{{- if $policy.scale -}}
{{- $refs = append $refs (list "scale" $policy.scale.deployment) -}}
{{- $refs = append $refs (list "deployments" $policy.scale.deployment) -}}
{{- end -}}
{{- if $policy.route -}}
{{- $refs = append $refs (list "httproutes" $policy.route.httproute) -}}
{{- end -}}
{{- if $policy.configmap -}}
{{- $refs = append $refs (list "configmaps" $policy.configmap.configmap) -}}
{{- if $policy.configmap.restart -}}
{{- $refs = append $refs (list "deployments" $policy.configmap.restart) -}}
{{- end -}}
{{- end -}}
{{- range $ref := $refs -}}
{{- $parts := splitList "/" (index $ref 1) -}}
{{- $ns := first $parts -}}
{{- if has $ns $allowed -}}
{{- $entry := get $targets $ns | default (dict "scale" list "deployments" list "httproutes" list "configmaps" list) -}}
{{- $kind := index $ref 0 -}}
{{- $_ := set $entry $kind (append (get $entry $kind) (last $parts) | uniq) -}}
{{- $_ := set $targets $ns $entry -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $targets -}}
{{- end -}}
