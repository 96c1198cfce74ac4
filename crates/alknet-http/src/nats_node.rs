//! A node on the bus (feature `nats`): what `serve` does with `[nats]`, `[[export.nats]]`
//! and `[[import.nats]]` — imports first (their layers go into the registry), exports once the
//! registry is built, and the exports withdrawn before the node stops.

use std::sync::Arc;
use std::time::Duration;

use alknet_http_core::{GatewayDispatch, IdentityProvider, OperationOverlay, OperationRegistry};
use alknet_http_nats::{Bus, Following, FromNats, NatsExporter, SessionDirectory, to_nats};

use crate::nats_config::NatsSetup;

/// The node's part on the bus.
pub(crate) struct OnTheBus {
    bus: Bus,
    setup: NatsSetup,
    following: Vec<Following>,
    exporters: Vec<NatsExporter>,
    directory: Option<SessionDirectory>,
}

impl OnTheBus {
    /// Connects (in the background when no server answers yet) and starts the imports:
    /// their layers, and a line per import to print.
    pub(crate) async fn join(
        setup: NatsSetup,
    ) -> Result<(OnTheBus, Vec<Arc<OperationOverlay>>, Vec<String>), String> {
        let bus = Bus::connect(&setup.connect)
            .await
            .map_err(|e| e.to_string())?;
        let mut layers = Vec::new();
        let mut following = Vec::new();
        let mut lines = Vec::new();
        for import in &setup.imports {
            let layer = Arc::new(OperationOverlay::new());
            let importer = FromNats::new(&bus, import.clone())
                .await
                .map_err(|e| e.to_string())?;
            lines.push(format!(
                "importing nats service {} ({:?}{}), refreshed every {} ms",
                import.service,
                import.visibility,
                import
                    .namespace_prefix
                    .as_ref()
                    .map(|p| format!(", under {p}/"))
                    .unwrap_or_default(),
                import.refresh.as_millis()
            ));
            following.push(importer.follow(layer.clone()));
            layers.push(layer);
        }
        Ok((
            OnTheBus {
                bus,
                setup,
                following,
                exporters: Vec::new(),
                directory: None,
            },
            layers,
            lines,
        ))
    }

    /// Serves the configured operations of `registry` on the bus; a line per export to print.
    pub(crate) async fn export(
        &mut self,
        registry: &OperationRegistry,
        identities: Arc<dyn IdentityProvider>,
        call_timeout: Duration,
    ) -> Result<Vec<String>, String> {
        let mut lines = Vec::new();
        for export in &self.setup.exports {
            let dispatch = GatewayDispatch::new(registry.clone(), identities.clone())
                .with_timeout(call_timeout);
            let exporter = to_nats(&self.bus, dispatch, export.clone())
                .await
                .map_err(|e| e.to_string())?;
            lines.push(format!(
                "exporting {} operations as nats service {} (queue group {}, subjects {}.*) as {}",
                exporter.operations().len(),
                export.service,
                export.queue_group,
                export.prefix,
                export.identity.id
            ));
            self.exporters.push(exporter);
        }
        Ok(lines)
    }

    /// Joins the cluster's session directory with the node's WebSocket `sessions`, when
    /// `[nats.directory]` asks; the line to print.
    pub(crate) async fn join_directory(
        &mut self,
        sessions: alknet_http_ws::Sessions,
    ) -> Result<Option<String>, String> {
        let Some(config) = self.setup.directory.clone() else {
            return Ok(None);
        };
        let directory = SessionDirectory::join(&self.bus, sessions, config.clone())
            .await
            .map_err(|e| e.to_string())?;
        let line = format!(
            "in the session directory of cluster {} as node {}",
            config.cluster,
            directory.node()
        );
        self.directory = Some(directory);
        Ok(Some(line))
    }

    /// Withdraws the exports (gateways stop sending calls here), leaves the session
    /// directory and stops following.
    pub(crate) async fn leave(self) {
        if let Some(directory) = self.directory {
            directory.leave().await;
        }
        for exporter in self.exporters {
            exporter.stop().await;
        }
        drop(self.following);
        let _ = self.bus.client().flush().await;
    }
}
