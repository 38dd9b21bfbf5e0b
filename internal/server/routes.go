package server

import "github.com/patchday/patchday/internal/notify"

// apiRoutes is every route the server answers. openapi.yaml documents exactly these; a test
// holds the two in agreement.
func (s *Server) apiRoutes() []route {
	return []route{
		{"GET", "/healthz", public, s.healthz},
		{"GET", "/readyz", public, s.readyz},
		{"GET", "/metrics", public, s.metricsHandler},
		{"GET", "/api/v1/openapi.json", public, s.openapi},

		{"POST", "/api/v1/auth/login", public, s.login},
		{"POST", "/api/v1/auth/logout", authed, s.logout},
		{"GET", "/api/v1/me", authed, s.me},
		{"POST", "/api/v1/me/password", authed, s.changePassword},

		{"GET", "/api/v1/orgs", authed, s.listOrgs},
		{"POST", "/api/v1/orgs", siteAdmin, s.createOrg},
		{"GET", "/api/v1/orgs/{org}", orgRead, s.getOrg},

		{"GET", "/api/v1/orgs/{org}/users", orgRead, s.listUsers},
		{"POST", "/api/v1/orgs/{org}/users", orgAdmin, s.createUser},
		{"GET", "/api/v1/orgs/{org}/users/{user}", orgRead, s.getUser},
		{"DELETE", "/api/v1/orgs/{org}/users/{user}", orgAdmin, s.removeUser},
		{"PUT", "/api/v1/orgs/{org}/users/{user}/role", orgAdmin, s.setRole},
		{"POST", "/api/v1/users/{user}/password", siteAdmin, s.resetPassword},
		{"POST", "/api/v1/users/{user}/disable", siteAdmin, s.disableUser},
		{"POST", "/api/v1/users/{user}/enable", siteAdmin, s.enableUser},

		{"GET", "/api/v1/orgs/{org}/products", orgRead, s.listProducts},
		{"POST", "/api/v1/orgs/{org}/products", orgOperate, s.createProduct},
		{"GET", "/api/v1/orgs/{org}/products/{id}", orgRead, s.getProduct},
		{"PATCH", "/api/v1/orgs/{org}/products/{id}", orgOperate, s.updateProduct},
		{"GET", "/api/v1/orgs/{org}/reports/end-of-support", orgRead, s.endOfSupportReport},

		{"GET", "/api/v1/orgs/{org}/advisories", orgRead, s.listAdvisories},
		{"POST", "/api/v1/orgs/{org}/advisories", orgOperate, s.importAdvisory},
		{"GET", "/api/v1/orgs/{org}/advisories/{id}", orgRead, s.getAdvisory},
		{"GET", "/api/v1/orgs/{org}/advisories/{id}/csaf", orgRead, s.exportAdvisory},
		{"GET", "/api/v1/orgs/{org}/advisories/{id}/bulletin", orgRead, s.advisoryBulletin},

		// Publishing: the release calendar, releases, scheduling, and the CSAF provider
		// (provider.go; public, TLP:AMBER and RED only for members of the provider organisation).
		{"GET", "/api/v1/orgs/{org}/release-calendar", orgRead, s.getReleaseCalendar},
		{"PUT", "/api/v1/orgs/{org}/release-calendar", orgAdmin, s.setReleaseCalendar},
		{"GET", "/api/v1/orgs/{org}/releases", orgRead, s.listReleases},
		{"POST", "/api/v1/orgs/{org}/releases", orgOperate, s.createRelease},
		{"POST", "/api/v1/orgs/{org}/advisories/{id}/schedule", orgOperate, s.scheduleAdvisory},
		{"GET", "/.well-known/security.txt", public, s.securityTxt},
		{"GET", "/.well-known/csaf/provider-metadata.json", public, s.providerMetadata},
		{"GET", "/.well-known/csaf/service.json", public, s.providerService},
		{"GET", "/.well-known/csaf/openpgp/{file}", public, s.providerKey},
		{"GET", "/.well-known/csaf/{tlp}/", public, s.providerFile},
		{"GET", "/.well-known/csaf/{tlp}/{file}", public, s.providerFile},
		{"GET", "/.well-known/csaf/{tlp}/{year}/", public, s.providerFile},
		{"GET", "/.well-known/csaf/{tlp}/{year}/{file}", public, s.providerFile},

		{"GET", "/api/v1/orgs/{org}/payloads", orgRead, s.listPayloads},
		{"PUT", "/api/v1/orgs/{org}/payloads", orgOperate, s.uploadPayload},
		{"GET", "/payloads/sha256/{digest}", public, s.servePayload},

		{"GET", "/api/v1/orgs/{org}/updates", orgRead, s.listUpdates},
		{"POST", "/api/v1/orgs/{org}/updates", orgOperate, s.createUpdate},
		{"GET", "/api/v1/orgs/{org}/updates/{name}", orgRead, s.getUpdate},
		{"GET", "/api/v1/orgs/{org}/updates/{name}/approvals", orgRead, s.listApprovals},
		{"POST", "/api/v1/orgs/{org}/updates/{name}/approvals", orgOperate, s.approve},
		{"DELETE", "/api/v1/orgs/{org}/updates/{name}/approvals/{group}", orgOperate, s.unapprove},
		{"GET", "/api/v1/orgs/{org}/updates/{name}/rollout", orgRead, s.rolloutStatus},
		{"POST", "/api/v1/orgs/{org}/updates/{name}/approvals/{group}/halt", orgOperate, s.haltRollout},
		{"POST", "/api/v1/orgs/{org}/updates/{name}/approvals/{group}/resume", orgOperate, s.resumeRollout},
		{"GET", "/api/v1/orgs/{org}/events", orgRead, s.listEvents},
		{"GET", "/api/v1/orgs/{org}/scans", orgRead, s.listScans},
		{"POST", "/api/v1/orgs/{org}/scans", orgOperate, s.uploadScan},
		{"GET", "/api/v1/orgs/{org}/scans/{id}", orgRead, s.getScan},
		// Notifications: subscriptions, dead letters, the public sign-up and the pages the
		// links in mails lead to.
		{"GET", "/api/v1/orgs/{org}/subscriptions", orgAdmin, s.listSubscriptions},
		{"POST", "/api/v1/orgs/{org}/subscriptions", orgAdmin, s.createSubscription},
		{"GET", "/api/v1/orgs/{org}/subscriptions/{id}", orgAdmin, s.getSubscription},
		{"PATCH", "/api/v1/orgs/{org}/subscriptions/{id}", orgAdmin, s.updateSubscription},
		{"DELETE", "/api/v1/orgs/{org}/subscriptions/{id}", orgAdmin, s.deleteSubscription},
		{"POST", "/api/v1/orgs/{org}/subscriptions/{id}/enable", orgAdmin, s.enableSubscription},
		{"GET", "/api/v1/orgs/{org}/dead-letters", orgAdmin, s.listDeadLetters},
		{"POST", "/api/v1/orgs/{org}/dead-letters/{id}/retry", orgAdmin, s.retryDelivery},
		{"POST", "/api/v1/signup", public, s.publicSignup},
		{"GET", notify.ConfirmPath, public, s.confirmPage},
		{"POST", notify.ConfirmPath, public, s.confirmSubscription},
		{"GET", notify.UnsubscribePath, public, s.unsubscribePage},
		{"POST", notify.UnsubscribePath, public, s.unsubscribe},
		{"GET", "/api/v1/orgs/{org}/scan-schedules", orgRead, s.listScanSchedules},
		{"POST", "/api/v1/orgs/{org}/scan-schedules", orgAdmin, s.createScanSchedule},
		{"GET", "/api/v1/orgs/{org}/scan-schedules/{name}", orgRead, s.getScanSchedule},
		{"PATCH", "/api/v1/orgs/{org}/scan-schedules/{name}", orgAdmin, s.updateScanSchedule},
		{"DELETE", "/api/v1/orgs/{org}/scan-schedules/{name}", orgAdmin, s.deleteScanSchedule},
		{"GET", "/api/v1/orgs/{org}/rules", orgRead, s.listRules},
		{"POST", "/api/v1/orgs/{org}/rules", orgAdmin, s.createRule},
		{"DELETE", "/api/v1/orgs/{org}/rules/{rule}", orgAdmin, s.deleteRule},
		{"GET", "/api/v1/orgs/{org}/rules/preview", orgOperate, s.previewRules},
		{"POST", "/api/v1/orgs/{org}/rules/run", orgAdmin, s.runRules},

		{"GET", "/api/v1/orgs/{org}/enroll-tokens", orgRead, s.listEnrollTokens},
		{"POST", "/api/v1/orgs/{org}/enroll-tokens", orgAdmin, s.createEnrollToken},
		{"DELETE", "/api/v1/orgs/{org}/enroll-tokens/{id}", orgAdmin, s.revokeEnrollToken},

		{"GET", "/api/v1/orgs/{org}/computers", orgRead, s.listComputers},
		{"GET", "/api/v1/orgs/{org}/computers/{computer}", orgRead, s.getComputer},
		{"GET", "/api/v1/orgs/{org}/computers/{computer}/inventory", orgRead, s.getInventory},
		{"POST", "/api/v1/orgs/{org}/computers/{computer}/revoke", orgAdmin, s.revokeComputer},
		{"DELETE", "/api/v1/orgs/{org}/computers/{computer}", orgAdmin, s.deleteComputer},
		{"PUT", "/api/v1/orgs/{org}/computers/{computer}/assignments/{update}", orgOperate, s.assignUpdate},
		{"DELETE", "/api/v1/orgs/{org}/computers/{computer}/assignments/{update}", orgOperate, s.unassignUpdate},

		{"PUT", "/api/v1/orgs/{org}/computers/{computer}/tags", orgAdmin, s.setComputerTags},
		{"GET", "/api/v1/orgs/{org}/groups", orgRead, s.listGroups},
		{"POST", "/api/v1/orgs/{org}/groups", orgAdmin, s.createGroup},
		{"GET", "/api/v1/orgs/{org}/groups/{group}", orgRead, s.getGroup},
		{"PATCH", "/api/v1/orgs/{org}/groups/{group}", orgAdmin, s.updateGroup},
		{"DELETE", "/api/v1/orgs/{org}/groups/{group}", orgAdmin, s.deleteGroup},
		{"GET", "/api/v1/orgs/{org}/groups/{group}/members", orgRead, s.listGroupMembers},
		{"PUT", "/api/v1/orgs/{org}/groups/{group}/members/{computer}", orgAdmin, s.addGroupMember},
		{"DELETE", "/api/v1/orgs/{org}/groups/{group}/members/{computer}", orgAdmin, s.removeGroupMember},
		{"GET", "/api/v1/orgs/{org}/reports/group", orgRead, s.groupReport},

		{"GET", "/api/v1/orgs/{org}/computers/{computer}/health", orgRead, s.computerHealth},
		{"GET", "/api/v1/orgs/{org}/computers/{computer}/report", orgRead, s.computerReport},
		{"GET", "/api/v1/orgs/{org}/health", orgRead, s.bulkHealth},
		{"GET", "/api/v1/orgs/{org}/health-policy", orgRead, s.getHealthPolicy},
		{"PUT", "/api/v1/orgs/{org}/health-policy", orgAdmin, s.setHealthPolicy},
		{"GET", "/api/v1/orgs/{org}/reports/advisory", orgRead, s.advisoryReport},
		{"GET", "/api/v1/orgs/{org}/reports/cve", orgRead, s.cveReport},
		{"GET", "/api/v1/orgs/{org}/reports/compliance", orgRead, s.complianceReport},
		{"GET", "/api/v1/orgs/{org}/reports/exposure", orgRead, s.exposureReport},
		{"GET", "/api/v1/orgs/{org}/reports/missing", orgRead, s.missingReport},
		{"GET", "/api/v1/computers/{id}/health", authed, s.healthByID},

		{"POST", "/api/v1/agent/enroll", public, s.agentEnroll},
		{"POST", "/api/v1/agent/checkin", agentAuth, s.agentCheckIn},
		{"POST", "/api/v1/agent/scans", agentAuth, s.agentScanReport},

		{"GET", "/api/v1/tokens", authed, s.listTokens},
		{"POST", "/api/v1/tokens", authed, s.createToken},
		{"DELETE", "/api/v1/tokens/{id}", authed, s.revokeToken},

		{"GET", "/api/v1/audit", authed, s.listAudit},
	}
}
