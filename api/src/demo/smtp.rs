//! A mail server that takes every e-mail and keeps none: enough SMTP (RFC 5321) for the
//! service's `email` destination to deliver its customer e-mails to, on 127.0.0.1 without TLS.

use tokio::{
    io::{AsyncBufReadExt as _, AsyncRead, AsyncWriteExt as _, BufReader},
    net::{TcpListener, TcpStream},
};

/// The longest line read (RFC 5321 allows 1000 octets; a little slack).
const MAX_LINE: u64 = 4096;

/// Takes connections on `listener` for as long as the demo runs.
pub async fn serve(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(async move {
                    if let Err(error) = session(stream).await {
                        tracing::debug!(%error, "a simulated SMTP session ended");
                    }
                });
            }
            Err(error) => {
                tracing::warn!(%error, "the simulated mail server could not accept");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reads one line of at most [`MAX_LINE`] bytes into `line` (empty at the end).
async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    line: &mut String,
) -> std::io::Result<usize> {
    line.clear();
    let mut bytes = Vec::new();
    let read = tokio::io::AsyncReadExt::take(&mut *reader, MAX_LINE)
        .read_until(b'\n', &mut bytes)
        .await?;
    line.push_str(&String::from_utf8_lossy(&bytes));
    Ok(read)
}

async fn session(stream: TcpStream) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write
        .write_all(b"220 mail.demo.test ESMTP demo mail sink\r\n")
        .await?;
    let mut line = String::new();
    loop {
        if read_line(&mut reader, &mut line).await? == 0 {
            return Ok(());
        }
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-mail.demo.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "HELO" => b"250 mail.demo.test\r\n",
            "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                loop {
                    if read_line(&mut reader, &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                }
                b"250 OK: queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 Command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}
