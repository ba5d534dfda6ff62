//! The events queue: long-polled SQS reads, and deletes in batches, as the listener needs them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::metrics::QueueOperation;

/// SQS's longest wait: an empty queue costs one ReceiveMessage per 20 s.
pub const WAIT: Duration = Duration::from_secs(20);
/// SQS's most messages per ReceiveMessage, and per DeleteMessageBatch.
pub const BATCH: usize = 10;

/// A queue call failed.
#[derive(Debug, thiserror::Error)]
#[error("{} on {url} failed: {message}", operation.as_str())]
pub struct QueueError {
    pub operation: QueueOperation,
    pub url: String,
    pub message: String,
}

/// One message: its body (an EventBridge event), its receipt for the delete, and when it
/// reached the queue.
#[derive(Debug, Clone)]
pub struct Message {
    pub receipt: String,
    pub body: String,
    pub sent_at: Option<SystemTime>,
}

#[derive(Debug, Clone)]
pub struct Queue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    pub fn new(client: aws_sdk_sqs::Client, url: String) -> Self {
        Self { client, url }
    }

    fn error<E: std::error::Error>(&self, operation: QueueOperation, error: E) -> QueueError {
        QueueError {
            operation,
            url: self.url.clone(),
            message: DisplayErrorContext(error).to_string(),
        }
    }

    /// Up to [`BATCH`] messages, waiting up to [`WAIT`] for the first.
    pub async fn receive(&self) -> Result<Vec<Message>, QueueError> {
        let answer = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .wait_time_seconds(WAIT.as_secs() as i32)
            .max_number_of_messages(BATCH as i32)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| self.error(QueueOperation::ReceiveMessage, e))?;
        Ok(answer
            .messages()
            .iter()
            .filter_map(|m| {
                let sent_at = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                    .and_then(|ms| ms.parse::<u64>().ok())
                    .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
                Some(Message {
                    receipt: m.receipt_handle()?.to_string(),
                    body: m.body().unwrap_or_default().to_string(),
                    sent_at,
                })
            })
            .collect())
    }

    /// Deletes the messages of `receipts`, [`BATCH`] per call. A message left undeleted comes
    /// back after the queue's visibility timeout, and is then a duplicate.
    pub async fn delete(&self, receipts: &[String]) -> Result<(), QueueError> {
        for batch in receipts.chunks(BATCH) {
            let entries = batch
                .iter()
                .enumerate()
                .map(|(id, receipt)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(id.to_string())
                        .receipt_handle(receipt)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.error(QueueOperation::DeleteMessageBatch, e))?;
            let answer = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| self.error(QueueOperation::DeleteMessageBatch, e))?;
            if let Some(failed) = answer.failed().first() {
                return Err(QueueError {
                    operation: QueueOperation::DeleteMessageBatch,
                    url: self.url.clone(),
                    message: format!(
                        "{} of {} messages not deleted ({}: {})",
                        answer.failed().len(),
                        batch.len(),
                        failed.code(),
                        failed.message().unwrap_or_default()
                    ),
                });
            }
        }
        Ok(())
    }
}
