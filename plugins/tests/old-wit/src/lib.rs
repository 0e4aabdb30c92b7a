//! A transform built against `engage:platform@0.9.0`, which no host runs: loading it
//! must fail with an error naming the version it was built against.

wit_bindgen::generate!({
    inline: r#"
        package engage:platform@0.9.0;

        interface log {
            enum level { trace, debug, info, warn, error }
            log: func(level: level, message: string);
        }

        world feature-transform {
            import log;
            export transform: func(batch: list<u8>) -> result<list<u8>, string>;
        }
    "#,
    world: "feature-transform",
});

struct OldWit;

impl Guest for OldWit {
    fn transform(batch: Vec<u8>) -> Result<Vec<u8>, String> {
        engage::platform::log::log(engage::platform::log::Level::Info, "old-wit ran");
        Ok(batch)
    }
}

export!(OldWit);
