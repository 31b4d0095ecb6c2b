{{/* Labels every object carries. */}}
{{- define "uc.labels" -}}
app.kubernetes.io/name: uyuni-cluster
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: uyuni
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "uc.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* Every peer's fixed Service address, as libp2p multiaddrs (the members' join list). */}}
{{- define "uc.join" -}}
{{- $join := list -}}
{{- range .Values.peers -}}
{{- if .clusterIP -}}
{{- $join = append $join (printf "/ip4/%s/tcp/4580" .clusterIP) -}}
{{- end -}}
{{- end -}}
{{- toJson $join -}}
{{- end }}

{{/* One TOML value: YAML numbers arrive as floats; whole ones are written as integers. */}}
{{- define "uc.tomlValue" -}}
{{- if kindIs "float64" . -}}
{{- if eq . (floor .) -}}{{ int64 . }}{{- else -}}{{ . }}{{- end -}}
{{- else if kindIs "slice" . -}}
[{{- range $i, $v := . -}}{{ if $i }}, {{ end }}{{ include "uc.tomlValue" $v }}{{- end -}}]
{{- else -}}
{{ toJson . }}
{{- end -}}
{{- end }}

{{/* A configuration map as TOML: top-level keys, then tables, then their sub-tables. */}}
{{- define "uc.toml" -}}
{{- range $k, $v := . }}
{{- if not (kindIs "map" $v) }}
{{ $k }} = {{ include "uc.tomlValue" $v }}
{{- end }}
{{- end }}
{{- range $k, $v := . }}
{{- if kindIs "map" $v }}

[{{ $k }}]
{{- range $k2, $v2 := $v }}
{{- if not (kindIs "map" $v2) }}
{{ $k2 }} = {{ include "uc.tomlValue" $v2 }}
{{- end }}
{{- end }}
{{- range $k2, $v2 := $v }}
{{- if kindIs "map" $v2 }}

[{{ $k }}.{{ $k2 }}]
{{- range $k3, $v3 := $v2 }}
{{ $k3 }} = {{ include "uc.tomlValue" $v3 }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The container security context and probes shared by peers and gateways. */}}
{{- define "uc.probes" -}}
startupProbe:
  httpGet: {path: /health, port: https, scheme: HTTPS}
  periodSeconds: 5
  failureThreshold: 60
readinessProbe:
  httpGet: {path: /health, port: https, scheme: HTTPS}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
livenessProbe:
  httpGet: {path: /health, port: https, scheme: HTTPS}
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 6
{{- end }}
