// train_command.cpp — every TrainSettings field as an option, its default shown by --help.
#include "train_command.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

#include "config_file.h"
#include "summary_command.h"
#include "train_config.h"

namespace cellcam::cli {

// The options `cellcam train` and `cellcam finetune` share (the schedule, loss, split and machine ones);
// finetune takes its model and input from the base model instead of --spec/--preset.
void add_training_options(CLI::App* cmd, train::TrainSettings& s) {
  cmd->add_option("--augment", s.augment,
                  "none | cells | histology | a list, e.g. hflip,rot90,rotate=30,hed=0.03,erase=0.33@0.25 (name=strength@probability; "
                  "erase: random erasing, one box of up to that share of the image filled with a random colour)")
      ->capture_default_str();
  cmd->add_option("--epochs", s.epochs, "")->capture_default_str();
  cmd->add_option("--batch-size", s.batch_size, "")->capture_default_str();
  cmd->add_option("--optimizer", s.optimizer, "adam | adamw | sgd | rmsprop")->capture_default_str();
  cmd->add_option("--lr", s.lr, "learning rate (peak for one_cycle)")->capture_default_str();
  cmd->add_option("--weight-decay", s.weight_decay, "")->capture_default_str();
  cmd->add_option("--momentum", s.momentum, "SGD momentum (Nesterov)")->capture_default_str();
  cmd->add_option("--schedule", s.schedule, "constant | step | inverse_time | cosine | one_cycle | plateau")->capture_default_str();
  cmd->add_option("--warmup-epochs", s.warmup_epochs, "cosine warm-up")->capture_default_str();
  cmd->add_option("--drop-noisy", s.drop_noisy,
                  "label noise: leave each batch's largest-loss fraction (e.g. 0.05) out of the loss, ramped up over "
                  "the first quarter of the epochs (0: off)")
      ->capture_default_str();
  cmd->add_option("--label-smoothing", s.label_smoothing,
                  "soft targets: binary y*(1-E)+E/2, multiclass one-hot*(1-E)+E/K (0: off; validation loss stays plain)")
      ->capture_default_str();
  cmd->add_option("--mixup", s.mixup, "mixup: blend pairs of training images and their labels, lambda ~ Beta(A, A) (e.g. 0.2; 0: off)")
      ->capture_default_str();
  cmd->add_option("--cutmix", s.cutmix,
                  "cutmix: paste a box of another training image, labels mixed by its area, lambda ~ Beta(A, A) (e.g. 1.0; "
                  "0: off; with --mixup each mixed batch is one or the other, even odds)")
      ->capture_default_str();
  cmd->add_option("--mix-prob", s.mix_prob, "share of training batches --mixup/--cutmix mix (validation is never mixed)")
      ->capture_default_str();
  cmd->add_option("--teacher", s.teacher,
                  "knowledge distillation: a run folder, model folder or soft-voting ensemble folder whose softened "
                  "predictions on each training batch the network also learns (same classes; the teacher's input may "
                  "differ from the student's in size and normalisation only)");
  cmd->add_option("--distill-temperature", s.distill_temperature, "with --teacher: T, both sides' logits divided by T")
      ->capture_default_str();
  cmd->add_option("--distill-weight", s.distill_weight,
                  "with --teacher: the teacher's share of the loss, (1 - A) * label loss + A * T^2 * KL(teacher || student)")
      ->capture_default_str();
  cmd->add_flag("--class-weights", s.class_weights, "balanced class weights n / (k * n_c) in the loss");
  cmd->add_flag("--weighted-sampler", s.weighted_sampler, "draw classes equally often each epoch");
  cmd->add_option("--monitor", s.monitor, "val_loss | val_accuracy | val_auc | val_f1 (early stopping, best checkpoint)")
      ->capture_default_str();
  cmd->add_option("--patience", s.patience, "epochs without improvement before stopping (0: never)")->capture_default_str();
  cmd->add_option("--val-fraction", s.val_fraction, "")->capture_default_str();
  cmd->add_option("--test-fraction", s.test_fraction, "")->capture_default_str();
  cmd->add_option("--target-sensitivity", s.target_sensitivity, "binary: threshold for this sensitivity (0: Youden's J)")
      ->capture_default_str();
  cmd->add_option("--ema", s.ema, "keep an exponential moving average of the weights with this decay (e.g. 0.999) and validate, keep and export it (0: off)")
      ->capture_default_str();
  cmd->add_flag("--tta", s.tta, "final validation and test passes average the 8 flips/rotations (test-time augmentation)");
  cmd->add_option("--seed", s.seed, "")->capture_default_str();
  cmd->add_option("--threads", s.threads, "LibTorch threads (0: all cores)")->capture_default_str();
  cmd->add_option("--workers", s.workers, "data-loading threads")->capture_default_str();
  cmd->add_option("--device", s.device, "auto | cpu | cuda")->capture_default_str();
  cmd->add_option("--cache-gb", s.cache_gb, "RAM for decoded images")->capture_default_str();
  cmd->add_option("--max-epochs-this-run", s.max_epochs_this_run, "stop after this many epochs in this process, over all folds with --folds (resume later)")
      ->capture_default_str();
}

// Each numeric option of `cmd` that has a range in train_settings.cpp's table is checked against it.
void add_range_checks(CLI::App* cmd) {
  // Every numeric option's allowed range, from the one table in train_settings.cpp (shown by --help).
  for (const train::SettingRange& r : train::setting_ranges()) {
    CLI::Option* option = cmd->get_option_no_throw(r.option);
    if (!option) continue;
    option->check(CLI::Validator(
        [&r](std::string& input) -> std::string {
          char* end = nullptr;
          const double value = std::strtod(input.c_str(), &end);
          if (end == input.c_str() || *end != '\0') return "\"" + input + "\" is not a number";
          return train::in_range(r, value) ? "" : input + " is outside " + train::describe_range(r);
        },
        "in " + train::describe_range(r)));
  }
}

void add_train_command(CLI::App& app, train::TrainSettings& s) {
  CLI::App* cmd = app.add_subcommand("train", "train a classifier on a folder of images (ImageFolder, Kaggle labels.csv or a manifest CSV)");
  cmd->add_option("data", s.data, "image folder, Kaggle folder with labels.csv, or manifest CSV (path,label[,group])");
  cmd->add_option("--out", s.out, "run folder")->capture_default_str();
  cmd->add_option("--resume", s.resume, "continue the run in this folder from its last checkpoint");
  cmd->add_flag("--force", s.force, "--out names an existing run: delete it and start over (without --force it is refused)");
  cmd->add_flag("--no-test", s.skip_test, "leave the test part unread: no test metrics (cellcam tune's trials, so choosing a recipe "
                                          "never sees test; `cellcam eval RUN` tests the chosen run later)");
  cmd->add_option("--spec", s.spec, "model.json to start from (else --preset and the input options)");
  cmd->add_option("--preset", s.preset,
                  "blog_cnn | blog_cnn_bn | pcam_baseline | pcam_wide | malaria_base | malaria_leaky_gap | malaria_bn_se | resnet18")
      ->capture_default_str();
  cmd->add_option("--width", s.width, "resnet18 width")->capture_default_str();
  cmd->add_option("--image-size", s.image_size, "input size (square)")->capture_default_str();
  cmd->add_option("--color", s.color, "rgb | gray | hsv")->capture_default_str();
  cmd->add_option("--aspect", s.aspect, "stretch | pad | crop")->capture_default_str();
  cmd->add_flag("--stain-norm", s.stain_norm,
                "normalise each image's stain (foreground colour mean/std) to the training images' average; "
                "stored in the model spec, so eval, predict and the page do the same");
  cmd->add_option("--stain-method", s.stain_method,
                  "with --stain-norm: rgb (per-channel foreground mean/std) | reinhard (lαβ mean/std, Reinhard 2001) | "
                  "macenko (H&E stain vectors and 99th-percentile concentrations, Macenko 2009); targets = the "
                  "training images' average; reinhard and macenko turn --stain-norm on")
      ->check(CLI::IsMember({"rgb", "reinhard", "macenko"}))
      ->capture_default_str();
  add_training_options(cmd, s);
  cmd->add_option("--folds", s.folds,
                  "K-fold cross-validation by patient (group): K runs in OUT/fold-<k>, each tested on its own fold, then "
                  "OUT/cv_report.{json,md} (0: one train/val/test split)")
      ->capture_default_str();
  cmd->add_option("--fold", s.fold, "with --folds: train only this fold (1..K; 0: all of them)")->capture_default_str();
  cmd->add_option("--positive-class", s.positive_class, "binary: the class to detect, e.g. Parasitized (default: the second by name)");
  cmd->add_option("--init-from", s.init_from, "checkpoint whose weights initialise the model (transfer learning)");
  // Distributed training (native/distributed/): torchrun's environment, or --nproc on one machine.
  const char* group = "Distributed training";
  cmd->add_option("--nproc", s.dist.nproc,
                  "start this many ranks on this machine and wait for them (each takes an equal share of the cores); "
                  "--batch-size stays per rank, so the global batch is nproc times larger: the learning rate is not "
                  "rescaled, raise --lr yourself if you want the same step per image (linear scaling, with warm-up)")
      ->group(group)
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--rank", s.dist.rank, "this process's rank (default: RANK, else 0)")->group(group);
  cmd->add_option("--world-size", s.dist.world_size, "how many ranks in all (default: WORLD_SIZE, else 1)")->group(group);
  cmd->add_option("--master-addr", s.dist.master_addr, "address of rank 0, which hosts the rendezvous (default: MASTER_ADDR, else 127.0.0.1)")
      ->group(group);
  cmd->add_option("--master-port", s.dist.master_port, "rendezvous port (default: MASTER_PORT, else 29500; with --nproc a free port)")
      ->group(group)
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--dist-backend", s.dist.backend, "auto | gloo | nccl (auto: NCCL for a CUDA device when LibTorch has it, else Gloo)")
      ->group(group)
      ->capture_default_str();
  cmd->add_option("--dist-timeout", s.dist.timeout_s,
                  "seconds a rank waits for the others (rendezvous, each collective) before it stops with an error")
      ->group(group)
      ->capture_default_str()
      ->check(CLI::Range(1.0, 86400.0));
  cmd->add_flag("--sync-bn", s.dist.sync_batch_norm,
                "batch norm takes its batch statistics over all ranks (one all-reduce per layer, forward and backward), "
                "so N ranks of --batch-size B normalise as one process of batch N*B; default: each rank its own B")
      ->group(group);
  add_range_checks(cmd);
  CLI::Option* print_config = cmd->add_flag("--print-config", "print the settings as a --config file (as RUN/config.toml) and exit");
  add_config_option(cmd, [print_config, &s] {
    if (print_config->count() == 0) return;
    std::fputs(train::settings_to_toml(s).c_str(), stdout);
    std::exit(0);
  });
  // Last, so every other option is set when it runs (CLI11 runs the callbacks in definition order).
  CLI::Option* summary = cmd->add_flag("--summary", "print the model's layer table (output shapes, parameters) and exit without training");
  cmd->final_callback([summary, &s] {
    if (summary->count() > 0) std::exit(print_model_summary(s));
  });
}

}  // namespace cellcam::cli
